using System.Diagnostics;
using System.Globalization;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Progress;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// Per-sample gradients written into G (<see cref="PerSampleGradients.ComputeInto"/>) against the memory-bandwidth floor
/// of writing G and against the previous path (<see cref="PreviousPerSampleGradients"/> then a copy into G). The floor:
/// a 256 MiB zero_ (write only) and copy_ (read + write) between touched buffers, in GB/s of bytes written. Per model,
/// one batch of 256 (the Fisher's batch size on MLPNet; 32 on ResNet-20): the median seconds of one ordinary
/// forward + backward, of the new and the previous path, the rows' bytes over each time in GB/s, and the ratios to the
/// floor (rows' bytes / zero_ GB/s) and to the backward. Then the whole G of N = SURGEON_BENCH_N (default 4,000) digits
/// through <see cref="EmpiricalFisher.GradientMatrix"/> (new), against the previous path's batches copied into a fresh
/// G the same way and against allocating and zeroing G, the fastest of three rounds each. Threads as torch has them (set OMP_NUM_THREADS); the load average is printed beside the figures.
/// </summary>
internal static class PerSampleWriteBench
{
    public static void Run()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Console.WriteLine($"threads {get_num_threads()}, load average {Measure.LoadAverage()}");
        double zeroGBs, copyGBs;
        using (var a = empty(64L << 20).zero_())
        using (var b = empty(64L << 20).zero_())
        {
            double bytes = a.numel() * 4.0;
            zeroGBs = bytes / Measure.MedianSeconds(() => a.zero_(), warmup: 2, runs: 9) / 1e9;
            copyGBs = bytes / Measure.MedianSeconds(() => a.copy_(b), warmup: 2, runs: 9) / 1e9;
        }
        Console.WriteLine($"memory floor (256 MiB, touched buffers): zero_ {zeroGBs:F2} GB/s written, copy_ {copyGBs:F2} GB/s written");

        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var (mlp, _) = Checkpoint.Load("docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        Console.WriteLine("| model | batch | d | rows MiB | backward ms | new ms | new GB/s | previous ms | previous GB/s | new / floor | previous / floor | new / backward | previous / backward |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        var (x, y) = train.Batch(Enumerable.Range(0, 256).ToArray());
        Batch("MLPNet digits", mlp, PrunableParameters.Discover(mlp), x, y, zeroGBs);
        if (Directory.Exists(DatasetCatalog.FashionMnistFolder))
        {
            var (resnet, _) = Checkpoint.Load("docs/cbs-resnet20/resnet20-fashion.ckpt", CPU);
            var (fashion, _) = DatasetCatalog.Load(DatasetCatalog.FashionMnist);
            var (fx, fy) = fashion.Batch(Enumerable.Range(0, 32).ToArray());
            Batch("ResNet-20 paper set (conv)", resnet, PrunableParameters.Discover(resnet, PrunableSet.Paper), fx, fy, zeroGBs);
        }

        int n = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_N"), out int v) ? v : 4000;
        var ps = PrunableParameters.Discover(mlp);
        long d = PrunableParameters.TotalCount(ps);
        double gBytes = (double)n * d * 4;
        // Each path three times in turn, the fastest kept: a fresh buffer's first touch costs what the kernel (and on a
        // VM the host) charges for memory not touched lately, which falls unevenly on whichever path meets it (bench
        // huge-pages measures that cost on its own).
        double fresh = double.MaxValue, previous = double.MaxValue, floor = double.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            var clock = Stopwatch.StartNew();
            using (var g = EmpiricalFisher.GradientMatrix(mlp, ps, train, n, 1, 0, CPU, NullProgress.Instance)) { }
            fresh = Math.Min(fresh, clock.Elapsed.TotalSeconds);
            clock.Restart();
            using (var g = empty([n, d]))
            {
                var indices = train.RandomSubset(n, 0);
                for (int start = 0; start < n; start += 256)
                {
                    using var scope = NewDisposeScope();
                    int count = Math.Min(256, n - start);
                    var (bx, by) = train.Batch(indices.AsSpan(start, count));
                    g.narrow(0, start, count).copy_(PreviousPerSampleGradients.Compute(mlp, ps, bx, by));
                }
            }
            previous = Math.Min(previous, clock.Elapsed.TotalSeconds);
            clock.Restart();
            using (var g = empty([n, d])) g.zero_();
            floor = Math.Min(floor, clock.Elapsed.TotalSeconds);
        }
        Console.WriteLine($"whole G, MLPNet digits, N = {n:N0} ({gBytes / 1048576:N0} MiB, a fresh G each time, fastest of 3 rounds): new {fresh:F2} s ({gBytes / fresh / 1e9:F2} GB/s), " +
            $"previous {previous:F2} s ({gBytes / previous / 1e9:F2} GB/s), floor (allocate and zero G) {floor:F2} s; new / floor {fresh / floor:F1}×, " +
            $"previous / floor {previous / floor:F1}×; load average {Measure.LoadAverage()}");
    }

    private static void Batch(string name, nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> ps, Tensor x, Tensor y, double zeroGBs)
    {
        model.eval();
        long d = PrunableParameters.TotalCount(ps), b = x.shape[0];
        double bytes = b * d * 4.0;
        using var g = empty([b, d]).zero_();
        double backward = Measure.MedianSeconds(() =>
        {
            using var scope = NewDisposeScope();
            model.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
        }, warmup: 2, runs: 9);
        double now = Measure.MedianSeconds(() => PerSampleGradients.ComputeInto(model, ps, x, y, g), warmup: 2, runs: 9);
        double before = Measure.MedianSeconds(() =>
        {
            using var rows = PreviousPerSampleGradients.Compute(model, ps, x, y);
            g.copy_(rows);
        }, warmup: 2, runs: 9);
        using (var check = PreviousPerSampleGradients.Compute(model, ps, x, y))
        {
            PerSampleGradients.ComputeInto(model, ps, x, y, g);
            double diff = g.sub(check).abs().max().item<float>();
            if (diff > 1e-5 * Math.Max(1, check.abs().max().item<float>())) Console.WriteLine($"({name}: new and previous rows differ by {diff:E2})");
        }
        double floor = bytes / (zeroGBs * 1e9);
        Console.WriteLine($"| {name} | {b} | {d:N0} | {bytes / 1048576:F1} | {backward * 1e3:F2} | {now * 1e3:F2} | {bytes / now / 1e9:F2} | {before * 1e3:F2} | " +
            $"{bytes / before / 1e9:F2} | {now / floor:F1}× | {before / floor:F1}× | {now / backward:F1}× | {before / backward:F1}× |");
        Console.WriteLine($"(load average {Measure.LoadAverage()})");
    }

}
