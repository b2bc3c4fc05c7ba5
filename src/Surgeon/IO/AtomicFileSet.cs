namespace Surgeon.IO;

/// <summary>
/// Files that appear whole or not at all, together (a checkpoint's weights and sidecar, train's checkpoint with its
/// dynamics CSV and PNG, a report's Markdown, CSV, JSON and PNG). Each file is first written to a temporary file
/// beside its target; <see cref="Commit"/> then renames them all into place, and if one rename fails it undoes the
/// ones already done (restoring a file that was replaced) and deletes every temporary file. Disposing a set that was
/// not committed (an error, a signal through <see cref="PendingWrites.AbandonAll"/>) deletes its temporary files and
/// the folders made for them while they are still empty.
/// Each rename is atomic on one file system; the set is whole against errors and signals, not against a power cut
/// between two renames (a dead writer's temporary files are removed by the next write of the same target).
/// </summary>
internal sealed class AtomicFileSet : IDisposable, IPendingWrite
{
    private readonly List<(string Target, string Temp)> staged = [];
    private readonly List<string> createdFolders = [];
    private bool finished;

    public AtomicFileSet() => PendingWrites.Add(this);

    /// <summary>The full paths of the files this set will write, in order.</summary>
    public IReadOnlyList<string> Targets => staged.Select(s => s.Target).ToList();

    /// <summary>
    /// The temporary path the caller writes <paramref name="target"/>'s content to (it keeps the target's extension,
    /// for writers that pick a format by it). Makes the target's folder if needed.
    /// </summary>
    public string Reserve(string target)
    {
        if (finished) throw new InvalidOperationException("the file set was already committed or abandoned");
        string full = Path.GetFullPath(target);
        CheckTarget(target, full);
        if (staged.Any(s => s.Target == full))
            throw new InvalidOperationException($"{target} is written twice in one file set");
        try
        {
            lock (PendingWrites.Gate) // a signal's clean-up sees the folder with its record, or neither
            {
                PendingWrites.BlockIfAbandoned();
                if (CreateFolder(Path.GetDirectoryName(full)!) is { } made)
                    createdFolders.Add(made);
            }
            AtomicFile.RemoveStaleTemps(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SurgeonException($"cannot write {target}: {e.Message}", e);
        }
        string temp = AtomicFile.TempPathFor(full);
        lock (PendingWrites.Gate)
        {
            PendingWrites.BlockIfAbandoned(); // the process is exiting after a signal: start nothing new
            staged.Add((full, temp));
        }
        return temp;
    }

    /// <summary>Writes <paramref name="target"/>'s content through its temporary path (for APIs that write to a path themselves).</summary>
    public string WriteVia(string target, Action<string> writeToPath)
    {
        string temp = Reserve(target);
        try
        {
            writeToPath(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SurgeonException($"cannot write {target}: {e.Message}", e);
        }
        if (!File.Exists(temp))
            throw new SurgeonException($"cannot write {target}: writing it produced no file");
        return temp;
    }

    /// <summary>Writes <paramref name="target"/>'s content to a stream, flushed to disk.</summary>
    public string Write(string target, Action<Stream> write) =>
        WriteVia(target, temp =>
        {
            // Created under the gate: a signal's clean-up either sees this file (and deletes it) or comes before it.
            FileStream created;
            lock (PendingWrites.Gate)
            {
                PendingWrites.BlockIfAbandoned();
                created = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            }
            using var stream = created;
            write(stream);
            stream.Flush(flushToDisk: true);
        });

    public string WriteText(string target, string text) =>
        Write(target, stream => stream.Write(new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text)));

    public string WriteBytes(string target, byte[] bytes) => Write(target, stream => stream.Write(bytes));

    /// <summary>Renames every file into place, or none: on a failure the renames done are undone and the error is thrown.</summary>
    public void Commit()
    {
        lock (PendingWrites.Gate)
        {
            PendingWrites.BlockIfAbandoned();
            if (finished) throw new InvalidOperationException("the file set was already committed or abandoned");
            var done = new List<(string Target, string? Backup)>();
            var backups = new List<string>();
            string current = "";
            try
            {
                foreach (var (target, temp) in staged)
                {
                    current = target;
                    CheckTarget(target, target); // something else may have appeared there while the files were written
                    if (!File.Exists(temp))
                        throw new SurgeonException($"cannot write {target}: its temporary file {Path.GetFileName(temp)} is gone");
                    // A file about to be replaced keeps a second name until the whole set is in place, to be restored
                    // if a later rename fails (one file alone needs none: its rename is atomic).
                    string? backup = null;
                    if (staged.Count > 1 && File.Exists(target))
                    {
                        backup = AtomicFile.TempPathFor(target);
                        if (!FileNode.TryHardLink(target, backup)) File.Copy(target, backup);
                        backups.Add(backup);
                    }
                    File.Move(temp, target, overwrite: true);
                    done.Add((target, backup));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SurgeonException)
            {
                for (int i = done.Count - 1; i >= 0; i--)
                {
                    var (target, backup) = done[i];
                    TryIo(() =>
                    {
                        if (backup is not null) File.Move(backup, target, overwrite: true);
                        else File.Delete(target);
                    });
                }
                foreach (string b in backups) TryIo(() => File.Delete(b));
                Finish(abandon: true);
                if (e is SurgeonException) throw;
                string names = string.Join(", ", staged.Select(s => Path.GetFileName(s.Target)));
                throw new SurgeonException($"cannot write {current}: {e.Message}; none of {names} was written", e);
            }
            foreach (string b in backups) TryIo(() => File.Delete(b));
            Finish(abandon: false);
        }
    }

    public void Dispose()
    {
        lock (PendingWrites.Gate)
            if (!finished) Finish(abandon: true);
    }

    void IPendingWrite.Abandon()
    {
        if (!finished) Finish(abandon: true);
    }

    private void Finish(bool abandon)
    {
        finished = true;
        PendingWrites.Remove(this);
        if (!abandon) return;
        foreach (var (_, temp) in staged) TryIo(() => File.Delete(temp));
        for (int i = createdFolders.Count - 1; i >= 0; i--) RemoveIfEmpty(createdFolders[i]);
    }

    /// <summary>Refuses to rename over anything but a regular file: a folder, a device, a FIFO, a socket or a symbolic
    /// link is never replaced (renaming over /dev/null, as root, would replace the device with a file).</summary>
    internal static void CheckTarget(string shown, string full)
    {
        var node = FileNode.Of(full);
        if (node.Kind == FileKind.Folder)
            throw new SurgeonException($"cannot write {shown}: it is a folder; give a file name");
        if (node.Kind is not (FileKind.Missing or FileKind.Regular))
            throw new SurgeonException($"cannot write {shown}: it is {FileNode.Describe(node.Kind)}, not a regular file; surgeon never replaces one");
    }

    /// <summary>Makes <paramref name="folder"/> and its missing parents; returns the outermost one it made, or null.</summary>
    internal static string? CreateFolder(string folder)
    {
        string? outermost = null;
        for (string? dir = folder; dir is not null && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
            outermost = dir;
        if (outermost is not null) Directory.CreateDirectory(folder);
        return outermost;
    }

    /// <summary>Deletes <paramref name="folder"/> (a folder this run made) if no file has appeared anywhere below it.</summary>
    internal static void RemoveIfEmpty(string folder) =>
        TryIo(() =>
        {
            if (Directory.Exists(folder) && !Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any())
                Directory.Delete(folder, recursive: true);
        });

    private static void TryIo(Action action)
    {
        try { action(); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
