using System.Runtime.InteropServices;

namespace Surgeon.Numerics;

/// <summary>
/// How this process's native memory is handed out, set once at start (<see cref="Configure"/>). Why: on our VMs a page
/// fault costs several µs, and by default libtorch's buffers fault in afresh, page by page, every time they are allocated.
/// </summary>
internal static class NativeHeap
{
    /// <summary>The top padding set: each heap grows and keeps this much beyond what it needs.</summary>
    public const int TopPadBytes = 256 << 20;

    /// <summary>libtorch's switch for huge pages (c10's CPU allocator reads it once, at its first allocation).</summary>
    public const string HugePagesVariable = "THP_MEM_ALLOC_ENABLE";

    private static readonly Lazy<bool> Slack = new(() => OnLinuxLibc(() => Mallopt(MTopPad, TopPadBytes) == 1));

    // Not overwritten when set: THP_MEM_ALLOC_ENABLE=0 turns it off (bench huge-pages compares both).
    private static readonly Lazy<bool> Huge = new(() => OnLinuxLibc(() =>
        SetEnv(HugePagesVariable, "1", overwrite: 0) == 0 && Marshal.PtrToStringAnsi(GetEnv(HugePagesVariable)) == "1"));

    /// <summary>The libc call's answer on Linux; false elsewhere or without glibc, whose allocator is then left as it is.</summary>
    private static bool OnLinuxLibc(Func<bool> call)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return call();
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>Both settings below; the command line, the session API, the benches and the tests call it first.</summary>
    public static void Configure()
    {
        UseHugePages();
        KeepSlack();
    }

    /// <summary>
    /// Keeps freed native memory in the process instead of handing it back to the kernel after every tensor: glibc's
    /// malloc trims each heap's free top after a free, so libtorch's short-lived buffers (a convolution's unfolded input,
    /// several MB per call) are faulted in afresh on every forward pass. A ResNet-20 forward of 320 images in chunks of
    /// 16 made 1.1–3.7 million minor faults and took 8–17 s of CPU, against 66 thousand faults and 0.35 s with 256 MiB of
    /// top padding (bench <c>heap-slack</c>). The pad is also the most a heap keeps unused, so resident memory grows by at
    /// most that much per heap (measured: +100 MB on the ResNet-20 run). True when glibc took it.
    /// </summary>
    public static bool KeepSlack() => Slack.Value;

    /// <summary>
    /// Asks libtorch to back its buffers of 2 MiB or more with transparent huge pages (it aligns them and calls
    /// madvise(MADV_HUGEPAGE); this kernel gives huge pages on request only). Why: large buffers that are not reused,
    /// G above all (1 GB at N = 8,000 on MLPNet), are otherwise faulted in 4 KiB at a time: bench <c>huge-pages</c>.
    /// Takes effect only before libtorch's first allocation. True when the variable is set to 1 (by us or the user).
    /// </summary>
    public static bool UseHugePages() => Huge.Value;

    private const int MTopPad = -2; // glibc's M_TOP_PAD

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);

    // The C library's environment, which libtorch reads (.NET's Environment.SetEnvironmentVariable does not reach it).
    [DllImport("libc", EntryPoint = "setenv", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPStr)] string name, [MarshalAs(UnmanagedType.LPStr)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "getenv", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    private static extern IntPtr GetEnv([MarshalAs(UnmanagedType.LPStr)] string name);
}
