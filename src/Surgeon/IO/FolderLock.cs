namespace Surgeon.IO;

/// <summary>
/// Holds an output folder (a sweep's, a demo's, a report's) for one run: a second run on the same folder is refused
/// at once with one line naming the holder's process id, instead of both computing the same points or interleaving
/// reports. The lock is an OS lock (<c>flock</c>, which .NET takes for <see cref="FileShare.None"/> on Unix) on the
/// file <see cref="FileName"/> in the folder, so a run that is killed never leaves a stale lock: the kernel drops it
/// with the process. Refusing rather than waiting keeps a mistaken second run from silently queuing for hours.
/// Disposing deletes the lock file and the folder itself if this run made it and left nothing in it, so a run that
/// fails before doing any work leaves nothing behind.
/// </summary>
internal sealed class FolderLock : IDisposable, IPendingWrite
{
    public const string FileName = ".surgeon.lock";

    private readonly FileStream stream;
    private readonly string lockPath;
    private readonly string? createdFolder;
    private bool released;

    private FolderLock(FileStream stream, string lockPath, string? createdFolder)
    {
        this.stream = stream;
        this.lockPath = lockPath;
        this.createdFolder = createdFolder;
        PendingWrites.Add(this);
    }

    /// <summary>Locks <paramref name="folder"/> (made if missing) or throws a <see cref="SurgeonException"/> naming the run that holds it.</summary>
    public static FolderLock Acquire(string folder, string option)
    {
        // Under the gate, so that a signal's clean-up sees the lock file and the folder made for it, or neither.
        lock (PendingWrites.Gate)
        {
            PendingWrites.BlockIfAbandoned();
            return AcquireUnderGate(folder, option);
        }
    }

    private static FolderLock AcquireUnderGate(string folder, string option)
    {
        string full = Path.GetFullPath(folder);
        string? created;
        try
        {
            created = AtomicFileSet.CreateFolder(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SurgeonException($"cannot write into {folder}: {e.Message}", e);
        }
        string lockPath = Path.Combine(full, FileName);
        // A holder deletes the lock file as it releases it, so the file this run opened may already be unlinked when
        // its lock is granted; then the lock is taken again on the file now at that path.
        for (int attempt = 0; ; attempt++)
        {
            FileStream stream;
            try
            {
                stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (IsHeld(e))
            {
                if (created is not null) AtomicFileSet.RemoveIfEmpty(created);
                string holder = HolderPid(lockPath) is { } pid ? $" (pid {pid})" : "";
                throw new SurgeonException($"{folder} is in use by another surgeon run{holder}; wait for it to finish or give another {option}", e);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (created is not null) AtomicFileSet.RemoveIfEmpty(created);
                throw new SurgeonException($"cannot lock {folder} for this run: {e.Message}", e);
            }
            if (StillAtPath(stream, lockPath) || attempt >= 10)
            {
                stream.SetLength(0);
                stream.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
                stream.Flush();
                return new FolderLock(stream, lockPath, created);
            }
            stream.Dispose();
        }
    }

    public void Dispose()
    {
        lock (PendingWrites.Gate) Release();
    }

    void IPendingWrite.Abandon() => Release();

    private void Release()
    {
        if (released) return;
        released = true;
        PendingWrites.Remove(this);
        // Deleted while still held, so no other run can have locked the file at this path in between.
        try { File.Delete(lockPath); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        stream.Dispose();
        if (createdFolder is not null) AtomicFileSet.RemoveIfEmpty(createdFolder);
    }

    // A lock held elsewhere: on Unix .NET's IOException carries flock's errno EWOULDBLOCK (11 on Linux, 35 on macOS),
    // on Windows the sharing violation 0x80070020.
    private static bool IsHeld(IOException e) => e.HResult is 11 or 35 or unchecked((int)0x80070020);

    private static bool StillAtPath(FileStream stream, string path)
    {
        if (!OperatingSystem.IsLinux()) return true;
        var open = FileNode.Target($"/proc/self/fd/{stream.SafeFileHandle.DangerousGetHandle()}");
        var atPath = FileNode.Of(path);
        return !open.HasIdentity || (atPath.Exists && atPath.Device == open.Device && atPath.Inode == open.Inode);
    }

    /// <summary>The process holding the lock, from the kernel's table (/proc/locks: "… FLOCK ADVISORY WRITE pid maj:min:inode …").</summary>
    private static int? HolderPid(string lockPath)
    {
        try
        {
            var node = FileNode.Of(lockPath);
            if (!node.HasIdentity || !File.Exists("/proc/locks")) return null;
            string id = $"{node.Device >> 32:x2}:{node.Device & 0xFFFFFFFF:x2}:{node.Inode}"; // the kernel prints %02x:%02x:%lu
            foreach (string line in File.ReadLines("/proc/locks"))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                int at = Array.IndexOf(fields, id);
                if (at > 0 && !fields.Contains("->") && int.TryParse(fields[at - 1], out int pid))
                    return pid;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
