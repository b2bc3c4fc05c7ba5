using System.Diagnostics;
using System.Globalization;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Numerics;
using Surgeon.Progress;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// What <see cref="NativeHeap.UseHugePages"/> buys. libtorch reads its switch once per process, so the same work runs in
/// two child processes of this bench, one with THP_MEM_ALLOC_ENABLE=0 and one with 1. Each, on MLPNet's G at
/// N = SURGEON_BENCH_N (default 8,000; 988 MiB): allocates and zeroes a buffer of G's size three times in a row (the
/// kernel sources huge pages the first times, then reuses the freed ones), then forms G by
/// <see cref="EmpiricalFisher.GradientMatrix"/> (per-sample gradients written into a fresh G; the code warmed up on
/// N = 512 first) twice; each in wall seconds and minor page faults. The floor: G's bytes at the zero_ bandwidth of a
/// touched 256 MiB buffer. Threads as torch has them (set OMP_NUM_THREADS).
/// </summary>
internal static class HugePagesBench
{
    public const string ChildArgument = "huge-pages-child";

    private static readonly string[] Steps = ["zero 1", "zero 2", "zero 3", "G 1", "G 2"];

    public static void Run()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Console.WriteLine($"load average {Measure.LoadAverage()}; each cell: wall s (minor page faults)");
        Console.WriteLine($"| THP_MEM_ALLOC_ENABLE | G MiB | floor s | {string.Join(" | ", Steps.Select(Describe))} |");
        Console.WriteLine($"|---|---|---|{string.Concat(Steps.Select(_ => "---|"))}");
        var seconds = new Dictionary<string, double[]>();
        foreach (string setting in new[] { "0", "1" })
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            start.ArgumentList.Add(typeof(HugePagesBench).Assembly.Location);
            start.ArgumentList.Add(ChildArgument);
            start.Environment[NativeHeap.HugePagesVariable] = setting;
            using var child = Process.Start(start)!;
            string line = child.StandardOutput.ReadToEnd().Trim();
            child.WaitForExit();
            var f = line.Split(' ');
            if (child.ExitCode != 0 || f.Length != 3 + 2 * Steps.Length) { Console.WriteLine($"(child with {setting} failed: {line})"); return; }
            double mib = double.Parse(f[1]), gbs = double.Parse(f[2]);
            var s = Enumerable.Range(0, Steps.Length).Select(i => double.Parse(f[3 + 2 * i])).ToArray();
            var faults = Enumerable.Range(0, Steps.Length).Select(i => long.Parse(f[4 + 2 * i])).ToArray();
            Console.WriteLine($"| {setting} ({(f[0] == "True" ? "on" : "off")}) | {mib:N0} | {mib * 1048576 / (gbs * 1e9):F3} | " +
                $"{string.Join(" | ", s.Select((x, i) => $"{x:F3} ({faults[i]:N0})"))} |");
            seconds[setting] = s;
        }
        Console.WriteLine($"off / on: {string.Join(", ", Steps.Select((step, i) => $"{step} {seconds["0"][i] / seconds["1"][i]:F1}×"))}; load average {Measure.LoadAverage()}");
    }

    private static string Describe(string step) => step.StartsWith("zero", StringComparison.Ordinal)
        ? $"allocate + zero a G-sized buffer, #{step[^1]}"
        : $"G by per-sample gradients, #{step[^1]}";

    /// <summary>One child's figures on one line: huge pages on, G MiB, zero_ GB/s, then seconds and faults per step.</summary>
    public static int Child()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        bool huge = NativeHeap.UseHugePages();
        NativeHeap.KeepSlack();
        int n = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_N"), out int v) ? v : 8000;
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var (mlp, _) = Checkpoint.Load("docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        var ps = PrunableParameters.Discover(mlp);
        long d = PrunableParameters.TotalCount(ps);
        double gbs;
        using (var touched = empty(64L << 20))
        {
            touched.zero_();
            gbs = touched.numel() * 4.0 / Measure.MedianSeconds(() => touched.zero_(), warmup: 2, runs: 5) / 1e9;
        }
        using (EmpiricalFisher.GradientMatrix(mlp, ps, train, 512, 1, 0, CPU, NullProgress.Instance)) { }
        var figures = new List<string> { huge.ToString(), $"{n * d * 4.0 / 1048576:F0}", $"{gbs:F2}" };
        foreach (string step in Steps)
        {
            long f0 = Measure.MinorFaults();
            var clock = Stopwatch.StartNew();
            if (step.StartsWith("zero", StringComparison.Ordinal))
            {
                using var g = empty([n, d]);
                g.zero_();
            }
            else
            {
                using var g = EmpiricalFisher.GradientMatrix(mlp, ps, train, n, 1, 0, CPU, NullProgress.Instance);
            }
            figures.Add($"{clock.Elapsed.TotalSeconds:F4}");
            figures.Add($"{Measure.MinorFaults() - f0}");
        }
        Console.WriteLine(string.Join(" ", figures));
        return 0;
    }
}
