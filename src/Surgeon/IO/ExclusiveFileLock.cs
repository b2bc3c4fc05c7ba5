namespace Surgeon.IO;

/// <summary>
/// An exclusive OS lock (<c>flock</c>, which .NET takes for <see cref="FileShare.None"/> on Unix) on a small file that
/// is never deleted, so the lock is always on the file at that path (no unlink race). The kernel drops the lock when
/// the holding process ends, however it ends (exit, kill -9, out-of-memory), so a lock never outlives its holder; on
/// NFS the server drops the locks of a client that stopped renewing its lease. One line about the holder (pid, host,
/// UTC start time) goes to the file PATH.holder, for reports: .NET takes a shared flock to read any file, which a held
/// exclusive lock refuses, so the lock file itself cannot be read while it is held.
/// Used for the claims of sweep points and for appends to a sweep's journal by many processes.
/// </summary>
internal sealed class ExclusiveFileLock : IDisposable
{
    private readonly FileStream stream;

    private ExclusiveFileLock(FileStream stream) => this.stream = stream;

    public string Path => stream.Name;

    /// <summary>The lock, or null at once when another process holds it; with <paramref name="recordHolder"/> this
    /// process is named in PATH.holder.</summary>
    /// <exception cref="SurgeonException">The file cannot be created or opened (permissions, missing folder).</exception>
    public static ExclusiveFileLock? TryAcquire(string path, bool recordHolder = false)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (IsHeld(e))
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SurgeonException($"cannot open the lock file {path}: {e.Message}", e);
        }
        var held = new ExclusiveFileLock(stream);
        if (recordHolder) held.WriteHolder();
        return held;
    }

    /// <summary>Waits (polling every few milliseconds) until the lock is free, at most <paramref name="timeout"/>.</summary>
    public static ExclusiveFileLock Acquire(string path, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int wait = 2; ; wait = Math.Min(2 * wait, 50))
        {
            if (TryAcquire(path) is { } held) return held;
            if (clock.Elapsed > timeout)
                throw new SurgeonException($"{path} stayed locked by another process for {timeout.TotalSeconds:0} s ({Holder(path) ?? "holder unknown"})");
            Thread.Sleep(wait);
        }
    }

    /// <summary>
    /// Whether some process holds the lock now, and the holder line its file holds (null when there is no file or no
    /// line). Probed by taking the lock for an instant, so it needs write access to the file.
    /// </summary>
    public static (bool Held, string? Holder) Probe(string path)
    {
        if (!File.Exists(path)) return (false, null);
        string? holder = Holder(path);
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return (false, holder);
        }
        catch (IOException e) when (IsHeld(e))
        {
            return (true, holder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (false, holder);
        }
    }

    /// <summary>The last holder's line ("pid 123 on node1 since 2026-12-06T23:10:00Z"), or null.</summary>
    public static string? Holder(string path)
    {
        try
        {
            string text = File.ReadAllText(path + HolderSuffix).Trim();
            return text.Length == 0 ? null : text;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public const string HolderSuffix = ".holder";

    private void WriteHolder() => AtomicFile.WriteAllText(stream.Name + HolderSuffix,
        $"pid {Environment.ProcessId} on {Environment.MachineName} since {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}\n");

    public void Dispose() => stream.Dispose();

    // A lock held elsewhere: on Unix .NET's IOException carries flock's errno EWOULDBLOCK (11 on Linux, 35 on macOS),
    // on Windows the sharing violation 0x80070020 (as in FolderLock).
    private static bool IsHeld(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);
}
