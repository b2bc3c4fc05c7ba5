namespace Surgeon.IO;

/// <summary>
/// The one check every reader of a file the user names runs before opening it: an empty path is refused, and so is
/// anything that is not a regular file — a FIFO (opening it blocks until someone writes), a device (reading
/// /dev/zero never ends) or a socket. A symbolic link is followed: what it points to is what is checked. A missing
/// file or a folder is left to the reader, which names it in its own words ("checkpoint not found", "is a folder").
/// </summary>
internal static class InputFiles
{
    /// <param name="what">What the file is to the reader, for the message: "checkpoint", "sidecar", "IDX file", ….</param>
    public static void Check(string path, string what)
    {
        if (string.IsNullOrEmpty(path))
            throw new SurgeonException($"the {what} path is empty; give a file");
        var node = FileNode.Target(path);
        if (node.Kind is FileKind.Missing or FileKind.Regular or FileKind.Folder) return;
        throw new SurgeonException(
            $"{path} is {FileNode.Describe(node.Kind)}, not a regular file; give the {what} file itself (surgeon reads only regular files: a FIFO, device or socket could block or never end)");
    }

    public static FileStream OpenRead(string path, string what)
    {
        Check(path, what);
        return File.OpenRead(path);
    }

    public static byte[] ReadAllBytes(string path, string what)
    {
        Check(path, what);
        return File.ReadAllBytes(path);
    }

    public static string ReadAllText(string path, string what)
    {
        Check(path, what);
        return File.ReadAllText(path);
    }
}
