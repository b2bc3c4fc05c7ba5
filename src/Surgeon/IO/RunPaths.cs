namespace Surgeon.IO;

/// <summary>
/// The files one run reads and writes, checked together before any work, so that a run never destroys its own
/// input or a device and never fails after hours for a path it could have refused at once. A command lists its
/// inputs (each with its derived files: a checkpoint's sidecar and dynamics) and its outputs (each file it will
/// write, sidecars included, and the files it writes into an output folder), then calls <see cref="Check"/>.
/// An output is refused when it
/// <list type="bullet">
/// <item>is empty;</item>
/// <item>exists and is not a regular file: a folder where a file is wanted (a file where a folder is wanted), a
/// character or block device, a FIFO or a socket (renaming over /dev/null as root would replace the device);</item>
/// <item>is a symbolic link. Refused rather than followed: the atomic rename would replace the link itself, not what
/// it points to, and following it would write somewhere the user did not name (another folder or file system). An
/// output <em>folder</em> that is a link to a folder is accepted: files are written inside it and the link stays;</item>
/// <item>has a parent that is a file, or its nearest existing folder does not accept new files;</item>
/// <item>is an input of the same run or an input's derived file: compared after resolving every symbolic link of
/// both paths, and by device and inode where both exist (so a hard link, <c>./x</c> and <c>x</c> all match).</item>
/// </list>
/// </summary>
internal sealed class RunPaths
{
    private readonly List<(string Path, string What)> inputs = [];
    private readonly List<(string Path, string Shown)> files = [];
    private readonly List<(string Folder, string Option, IReadOnlyList<string> Names)> folders = [];

    /// <param name="what">What the file is, for the message: "the input checkpoint m.ckpt", "the sidecar of …".</param>
    public RunPaths Reads(string path, string what)
    {
        if (!string.IsNullOrEmpty(path)) inputs.Add((path, what));
        return this;
    }

    /// <summary>Every file directly inside <paramref name="folder"/> is an input (a dataset folder).</summary>
    public RunPaths ReadsFolder(string folder, string what)
    {
        if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder)) return this;
        foreach (string file in Directory.EnumerateFiles(folder))
            inputs.Add((file, $"{Path.GetFileName(file)} of {what} {folder}"));
        return this;
    }

    /// <summary>A file the run writes; <paramref name="shown"/> names it in messages ("--out", "the sidecar of --out m.ckpt").</summary>
    public RunPaths Writes(string path, string shown)
    {
        files.Add((path, shown));
        return this;
    }

    /// <summary>A folder the run writes <paramref name="names"/> into (made if missing).</summary>
    public RunPaths WritesFolder(string folder, string option, IEnumerable<string> names)
    {
        folders.Add((folder, option, names.ToList()));
        return this;
    }

    /// <summary>Throws a <see cref="SurgeonException"/> naming the first problem; creates nothing.</summary>
    public void Check()
    {
        foreach (var (folder, option, names) in folders)
        {
            CheckFolder(folder, option);
            foreach (string name in names)
                CheckFile(Path.Combine(folder, name), $"written into {option} {folder}");
        }
        foreach (var (path, shown) in files)
            CheckFile(path, shown);
        var inputNodes = inputs.Select(i => (i.Path, i.What, Resolved: FileNode.Resolve(i.Path), Node: FileNode.Target(i.Path))).ToList();
        foreach (string output in files.Select(f => f.Path).Concat(folders.SelectMany(f => f.Names.Select(n => Path.Combine(f.Folder, n)))))
        {
            string resolved = FileNode.Resolve(output);
            var node = FileNode.Target(output);
            foreach (var input in inputNodes)
            {
                bool samePath = string.Equals(resolved, input.Resolved, StringComparison.Ordinal);
                bool sameFile = node.Exists && input.Node.Exists && node.HasIdentity
                    && node.Device == input.Node.Device && node.Inode == input.Node.Inode;
                if (samePath || sameFile)
                    throw new SurgeonException($"cannot write {output}: it is {input.What}{(samePath ? "" : " under another name (the same file)")}; writing it would destroy that input, so pick another output path");
            }
        }
    }

    private static void CheckFile(string path, string shown)
    {
        if (string.IsNullOrEmpty(path))
            throw new SurgeonException($"{shown} is empty; give a file name");
        string about = shown.StartsWith("--", StringComparison.Ordinal) ? "" : $" ({shown})";
        var node = FileNode.Of(path);
        switch (node.Kind)
        {
            case FileKind.Folder:
                throw new SurgeonException($"cannot write {path}{about}: it is a folder; give a file name");
            case FileKind.SymbolicLink:
                throw new SurgeonException($"cannot write {path}{about}: it is a symbolic link (to {new FileInfo(path).LinkTarget}); " +
                    "surgeon does not write through links (a rename would replace the link, an append would change what it points to): give the real path");
            case FileKind.Missing or FileKind.Regular:
                break;
            default:
                throw new SurgeonException($"cannot write {path}{about}: it is {FileNode.Describe(node.Kind)}, not a regular file; " +
                    "surgeon never replaces a device, FIFO or socket: give a file name");
        }
        CheckParents(path, Path.GetDirectoryName(Path.GetFullPath(path)), about);
    }

    private static void CheckFolder(string folder, string option)
    {
        if (string.IsNullOrEmpty(folder))
            throw new SurgeonException($"{option} is empty; give a folder");
        var node = FileNode.Target(folder); // a link to a folder is that folder
        if (node.Kind == FileKind.Regular)
            throw new SurgeonException($"cannot write into {folder}: it is a file; give a folder");
        if (node.Kind is not (FileKind.Missing or FileKind.Folder))
            throw new SurgeonException($"cannot write into {folder}: it is {FileNode.Describe(node.Kind)}; give a folder");
        if (node.Kind == FileKind.Missing && FileNode.Of(folder).Kind == FileKind.SymbolicLink)
            throw new SurgeonException($"cannot write into {folder}: it is a symbolic link to {new FileInfo(folder).LinkTarget}, which does not exist");
        CheckParents(folder, Path.GetFullPath(folder), "");
    }

    /// <summary>The nearest existing folder on the way to <paramref name="path"/> must be a folder that accepts new files.</summary>
    private static void CheckParents(string path, string? dir, string about)
    {
        while (dir is not null)
        {
            var node = FileNode.Target(dir);
            if (node.Kind == FileKind.Folder) break;
            if (node.Exists)
                throw new SurgeonException($"cannot write {path}{about}: {dir} is {(node.Kind == FileKind.Regular ? "a file" : FileNode.Describe(node.Kind))}, not a folder");
            dir = Path.GetDirectoryName(dir);
        }
        if (dir is null) return;
        string probe = Path.Combine(dir, $".surgeon-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SurgeonException($"cannot write {path}{about}: the folder {dir} does not accept new files ({e.Message})", e);
        }
    }
}
