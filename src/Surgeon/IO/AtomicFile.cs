using System.Text;

namespace Surgeon.IO;

/// <summary>
/// Writes files so that a crash never leaves a half-written one: write a temporary file beside the target, flush it
/// to disk, then rename it over the target (atomic on one file system). A temporary file left by a process killed
/// mid-write is removed by the next write of the same target.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            var bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text);
            stream.Write(bytes);
        });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, stream => stream.Write(copy));
    }

    /// <summary>Runs <paramref name="write"/> on a stream to a temporary file, then renames it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write) =>
        WriteVia(path, temp =>
        {
            using var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            write(stream);
            stream.Flush(flushToDisk: true);
        });

    /// <summary>Writes through a temporary file path, for APIs that insist on writing to a path themselves.</summary>
    public static void WriteVia(string path, Action<string> writeToPath)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new SurgeonException($"cannot write {path}: it is a folder");
        string temp = TempPathFor(full);
        try
        {
            string? dir = Path.GetDirectoryName(full);
            if (!string.IsNullOrEmpty(dir))
                Directory.CreateDirectory(dir);
            RemoveStaleTemps(full);
            writeToPath(temp);
            if (!File.Exists(temp))
                throw new IOException($"writing {path} produced no file");
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SurgeonException($"cannot write {path}: {e.Message}", e);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    /// <summary>
    /// Fails early, with one clear message and without creating anything, when <paramref name="path"/> could not be
    /// written later: it is a folder (or, with <paramref name="isFolder"/>, a file), a parent is a file, or the nearest
    /// existing parent folder does not accept new files. Commands call it before hours of work, not after.
    /// </summary>
    public static void EnsureWritable(string path, bool isFolder = false)
    {
        string full = Path.GetFullPath(path);
        if (!isFolder && Directory.Exists(full))
            throw new SurgeonException($"cannot write {path}: it is a folder; give a file name");
        if (isFolder && File.Exists(full))
            throw new SurgeonException($"cannot write into {path}: it is a file; give a folder");
        string? dir = isFolder ? full : Path.GetDirectoryName(full);
        while (dir is not null && !Directory.Exists(dir))
        {
            if (File.Exists(dir))
                throw new SurgeonException($"cannot write {path}: {dir} is a file, not a folder");
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
            throw new SurgeonException($"cannot write {path}: the folder {dir} does not accept new files ({e.Message})", e);
        }
    }

    /// <summary>Deletes temporary files of this target left by a process that died mid-write (killed, crashed).</summary>
    private static void RemoveStaleTemps(string full)
    {
        string dir = Path.GetDirectoryName(full) ?? ".";
        string prefix = $".{Path.GetFileNameWithoutExtension(full)}.tmp-";
        foreach (string file in Directory.EnumerateFiles(dir, prefix + "*" + Path.GetExtension(full)))
        {
            string rest = Path.GetFileName(file)[prefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out int pid) || pid == Environment.ProcessId || IsRunning(pid))
                continue;
            try { File.Delete(file); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    // The temporary name keeps the extension, so writers that pick a format by extension still work.
    private static string TempPathFor(string full) =>
        Path.Combine(Path.GetDirectoryName(full) ?? ".",
            $".{Path.GetFileNameWithoutExtension(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}{Path.GetExtension(full)}");
}
