using System.Runtime.InteropServices;

namespace Surgeon.Numerics;

/// <summary>
/// Keeps freed native memory in the process instead of handing it back to the kernel after every tensor. Why: glibc's
/// malloc trims each heap's free top after a free, so libtorch's short-lived buffers (a convolution's unfolded input,
/// several MB per call) are faulted in afresh on every forward pass. On our VMs a page fault costs several µs: a
/// ResNet-20 forward of 320 images in chunks of 16 made 1.1–3.7 million minor faults and took 8–17 s of CPU, against 66
/// thousand faults and 0.35 s with 256 MiB of top padding (bench <c>heap-slack</c>). The pad is also the most a heap keeps
/// unused, so resident memory grows by at most that much per heap (measured: +100 MB on the ResNet-20 run).
/// </summary>
internal static class NativeHeap
{
    /// <summary>The top padding set: each heap grows and keeps this much beyond what it needs.</summary>
    public const int TopPadBytes = 256 << 20;

    private static readonly Lazy<bool> Set = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return Mallopt(MTopPad, TopPadBytes) == 1;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false; // not glibc: its allocator is left as it is
        }
    });

    /// <summary>Sets the top padding once per process; true when glibc took it.</summary>
    public static bool KeepSlack() => Set.Value;

    private const int MTopPad = -2; // glibc's M_TOP_PAD

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int Mallopt(int parameter, int value);
}
