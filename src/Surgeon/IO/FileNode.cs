using System.Runtime.InteropServices;

namespace Surgeon.IO;

/// <summary>What kind of thing a path names, as the file system sees it (not following a last symbolic link).</summary>
internal enum FileKind
{
    Missing,
    Regular,
    Folder,
    SymbolicLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>
/// The kind and identity (device and inode) of a path, read with <c>statx</c> on Linux, so that a device, a FIFO or
/// a socket is told apart from a regular file (.NET reports all of them as files), and two names of one file (a hard
/// link, <c>./x</c> and <c>x</c>) are known to be the same. Elsewhere, or where statx is missing, only what .NET can
/// tell is known: folder, symbolic link or file, without an identity.
/// </summary>
internal sealed record FileNode(FileKind Kind, ulong Device, ulong Inode, uint RdevMajor = 0, uint RdevMinor = 0)
{
    /// <summary>Whether <see cref="Device"/> and <see cref="Inode"/> identify the file (false where statx was not available).</summary>
    public bool HasIdentity => Inode != 0;

    public bool Exists => Kind != FileKind.Missing;

    /// <summary>The kind in words for messages: "a character device", "a FIFO (named pipe)", …</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Regular => "a regular file",
        FileKind.Folder => "a folder",
        FileKind.SymbolicLink => "a symbolic link",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.Socket => "a socket",
        _ => "missing",
    };

    /// <summary>The node <paramref name="path"/> names itself (a symbolic link is reported as one).</summary>
    public static FileNode Of(string path) => Stat(path, followLink: false);

    /// <summary>The node <paramref name="path"/> leads to, following symbolic links (a dangling link is missing).</summary>
    public static FileNode Target(string path) => Stat(path, followLink: true);

    /// <summary>
    /// The absolute path with every symbolic link resolved, as far as the path exists; the missing rest is appended
    /// as given (so a new output compares equal to an input only when both resolve to one place).
    /// </summary>
    public static string Resolve(string path)
    {
        string full = Path.GetFullPath(path);
        var rest = new Stack<string>();
        string? existing = full;
        while (existing is not null && !Stat(existing, followLink: true).Exists)
        {
            rest.Push(Path.GetFileName(existing));
            existing = Path.GetDirectoryName(existing);
        }
        if (existing is null) return full;
        string resolved = RealPath(existing) ?? existing;
        while (rest.Count > 0) resolved = Path.Combine(resolved, rest.Pop());
        return resolved;
    }

    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;
    private static bool statxMissing = !OperatingSystem.IsLinux();

    private static FileNode Stat(string path, bool followLink)
    {
        if (!statxMissing)
        {
            try
            {
                var buffer = new byte[256];
                if (Statx(AtFdCwd, path, followLink ? 0 : AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
                    return new FileNode(FileKind.Missing, 0, 0); // ENOENT, ENOTDIR, EACCES on a parent: nothing to open there
                // struct statx (linux/stat.h), the same on every architecture: stx_mode u16 at 28, stx_ino u64 at 32,
                // stx_rdev_major/minor u32 at 128/132, stx_dev_major/minor u32 at 136/140.
                // The fields are in the machine's byte order, as BitConverter reads.
                ushort mode = BitConverter.ToUInt16(buffer, 28);
                ulong inode = BitConverter.ToUInt64(buffer, 32);
                ulong device = ((ulong)BitConverter.ToUInt32(buffer, 136) << 32) | BitConverter.ToUInt32(buffer, 140);
                return new FileNode(KindOf(mode), device, inode, BitConverter.ToUInt32(buffer, 128), BitConverter.ToUInt32(buffer, 132));
            }
            catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
            {
                statxMissing = true;
            }
        }
        var info = new FileInfo(path);
        if (!followLink && info.LinkTarget is not null) return new FileNode(FileKind.SymbolicLink, 0, 0);
        if (Directory.Exists(path)) return new FileNode(FileKind.Folder, 0, 0);
        return File.Exists(path) ? new FileNode(FileKind.Regular, 0, 0) : new FileNode(FileKind.Missing, 0, 0);
    }

    private static FileKind KindOf(ushort mode) => (mode & 0xF000) switch
    {
        0x8000 => FileKind.Regular,
        0x4000 => FileKind.Folder,
        0xA000 => FileKind.SymbolicLink,
        0x2000 => FileKind.CharacterDevice,
        0x6000 => FileKind.BlockDevice,
        0x1000 => FileKind.Fifo,
        0xC000 => FileKind.Socket,
        _ => FileKind.Regular,
    };

    private static string? RealPath(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        try
        {
            IntPtr resolved = NativeRealPath(path, IntPtr.Zero);
            if (resolved == IntPtr.Zero) return null;
            try { return Marshal.PtrToStringUTF8(resolved); }
            finally { NativeFree(resolved); }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
    }

    /// <summary>A second name for an existing file (a hard link), or false where the file system does not allow it.</summary>
    internal static bool TryHardLink(string existing, string newName)
    {
        if (OperatingSystem.IsWindows()) return false;
        try { return NativeLink(existing, newName) == 0; }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException) { return false; }
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte[] buffer);

    [DllImport("libc", EntryPoint = "realpath", SetLastError = true)]
    private static extern IntPtr NativeRealPath([MarshalAs(UnmanagedType.LPUTF8Str)] string path, IntPtr resolved);

    [DllImport("libc", EntryPoint = "free")]
    private static extern void NativeFree(IntPtr pointer);

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int NativeLink([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string newName);
}
