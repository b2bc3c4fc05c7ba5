namespace Surgeon.IO;

/// <summary>
/// Writes files so that a crash never leaves a half-written one: write a temporary file beside the target, flush it
/// to disk, then rename it over the target (atomic on one file system). A temporary file left by a process killed
/// mid-write is removed by the next write of the same target. One file is a set of one (<see cref="AtomicFileSet"/>):
/// only a regular file is ever replaced. Two runs writing the same file race harmlessly: the last rename wins, whole.
/// </summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        using var set = new AtomicFileSet();
        set.WriteText(path, text);
        set.Commit();
    }

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        using var set = new AtomicFileSet();
        set.WriteBytes(path, bytes.ToArray());
        set.Commit();
    }

    /// <summary>Runs <paramref name="write"/> on a stream to a temporary file, then renames it to <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        using var set = new AtomicFileSet();
        set.Write(path, write);
        set.Commit();
    }

    /// <summary>Writes through a temporary file path, for APIs that insist on writing to a path themselves.</summary>
    public static void WriteVia(string path, Action<string> writeToPath)
    {
        using var set = new AtomicFileSet();
        set.WriteVia(path, writeToPath);
        set.Commit();
    }

    /// <summary>
    /// Fails early, with one clear message and without creating anything, when <paramref name="path"/> could not be
    /// written later (see <see cref="RunPaths"/>, which commands use to check all their paths together).
    /// </summary>
    public static void EnsureWritable(string path, bool isFolder = false)
    {
        var paths = new RunPaths();
        if (isFolder) paths.WritesFolder(path, path, []);
        else paths.Writes(path, path);
        paths.Check();
    }

    /// <summary>Deletes temporary files of this target left by a process that died mid-write (killed, crashed).</summary>
    internal static void RemoveStaleTemps(string full)
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
    internal static string TempPathFor(string full) =>
        Path.Combine(Path.GetDirectoryName(full) ?? ".",
            $".{Path.GetFileNameWithoutExtension(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}{Path.GetExtension(full)}");
}
