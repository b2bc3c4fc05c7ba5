using System.Globalization;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Tests.Numerics;

public class NativeHeapTests
{
    // The module initializer (NativeHeapSetup) configured the heap before libtorch's first allocation, as the command
    // line does; a libtorch that no longer reads THP_MEM_ALLOC_ENABLE, or a setenv that does not reach it, leaves the
    // tensor on 4 KiB pages and fails this.
    [Fact]
    public void ALargeTensor_IsBackedByHugePages()
    {
        Assert.True(NativeHeap.UseHugePages());
        const string mode = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!File.Exists(mode) || File.ReadAllText(mode).Contains("[never]", StringComparison.Ordinal))
            return; // this kernel gives no huge pages at all: nothing to observe
        long before = AnonHugePagesKiB();
        using var t = empty(16L << 20);   // 64 MiB of float32
        t.fill_(HeldScalars.One);         // touched, so its pages exist
        long gained = AnonHugePagesKiB() - before;
        Assert.True(gained >= 32 << 10, $"64 MiB tensor: {gained} KiB of huge pages gained");
    }

    private static long AnonHugePagesKiB()
    {
        string line = File.ReadLines("/proc/self/smaps_rollup").First(l => l.StartsWith("AnonHugePages:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }
}
