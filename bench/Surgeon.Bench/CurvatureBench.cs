using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>Per-sample gradients and the Woodbury factorisation of the empirical Fisher.</summary>
internal static class CurvatureBench
{
    /// <summary>Per-sample gradients of a 128-sample batch as a ratio to one ordinary forward+backward (target ≤ 3×).</summary>
    public static void PerSampleGrads()
    {
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var (x, y) = train.Batch(Enumerable.Range(0, 128).ToArray());
        manual_seed(0);
        var mlp = new MLPNet(784, 10);
        Report("MLPNet 784-40-20-10", mlp, x, y);
        manual_seed(0);
        var cnn = nn.Sequential(
            nn.Conv2d(1, 16, 3), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride: 2), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 12 * 12, 10));
        Report("CNN conv1→16 3×3, conv16→32 3×3/2, linear→10", cnn, x, y);
        Console.WriteLine($"peak RSS: {Measure.PeakRssMiB():F0} MiB");
    }

    private static void Report(string name, nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        var ps = PrunableParameters.Discover(model);
        model.eval();
        double step = Measure.MedianSeconds(() =>
        {
            using var scope = NewDisposeScope();
            model.zero_grad();
            nn.functional.cross_entropy(model.call(x), y).backward();
        }, warmup: 3, runs: 11);
        double fast = Measure.MedianSeconds(() => PerSampleGradients.Compute(model, ps, x, y).Dispose(), warmup: 3, runs: 11);
        double loop = Measure.MedianSeconds(() => PerSampleGradients.ComputeByLoop(model, ps, x, y).Dispose(), warmup: 1, runs: 3);
        long d = PrunableParameters.TotalCount(ps);
        Console.WriteLine($"{name} (d = {d:N0}), batch 128:");
        Console.WriteLine($"  forward+backward:            {step * 1e3,9:F3} ms");
        Console.WriteLine($"  per-sample gradients (fast): {fast * 1e3,9:F3} ms   ratio {fast / step:F2}× (target ≤ 3×)");
        Console.WriteLine($"  per-sample gradients (loop): {loop * 1e3,9:F3} ms   ratio {loop / step:F2}×");
    }

    /// <summary>The N×N Gram product and Cholesky of the Woodbury inverse in GFLOP/s, against a plain matmul.</summary>
    public static void Woodbury()
    {
        const long d = 32360;
        Console.WriteLine($"threads: {get_num_threads()}, d = {d:N0}; Gram GGᵀ in float32 (2N²d flop), Cholesky in float64 (N³/3 flop)");
        foreach (int n in new[] { 1000, 4000 })
        {
            manual_seed(1);
            using var g = randn(n, d).mul_(0.01);
            using var other = randn(d, n);   // a plain, contiguous matmul of the same size: [N×d]·[d×N]
            int runs = n <= 1000 ? 5 : 3, warmup = n <= 1000 ? 2 : 1;
            double gramFlop = 2.0 * n * n * d, cholFlop = (double)n * n * n / 3;
            double gram = Measure.MedianSeconds(() => g.matmul(g.t()).Dispose(), warmup, runs);
            double plain = Measure.MedianSeconds(() => g.matmul(other).Dispose(), warmup, runs);
            using var k = g.matmul(g.t()).to(ScalarType.Float64);
            k.diagonal().add_(n * 1e-3);
            double chol = Measure.MedianSeconds(() =>
            {
                var (l, info) = linalg.cholesky_ex(k);
                l.Dispose(); info.Dispose();
            }, warmup, runs);
            // End to end through the public API: first InverseTimes = Gram + Cholesky + two passes over G.
            using var v = randn(d);
            double first = Measure.MedianSeconds(() =>
            {
                using var fisher = new EmpiricalFisher(g.alias(), 1e-3, [new FisherBlock(0, d)]);
                fisher.InverseTimes(v).Dispose();
            }, warmup: 0, runs: runs);
            double gramRate = gramFlop / gram / 1e9, cholRate = cholFlop / chol / 1e9, plainRate = gramFlop / plain / 1e9;
            double combinedRate = (gramFlop + cholFlop) / (gram + chol) / 1e9;
            Console.WriteLine($"N = {n:N0}:");
            Console.WriteLine($"  Gram G·Gᵀ (float32):     {gram * 1e3,9:F1} ms  {gramRate,7:F1} GFLOP/s");
            Console.WriteLine($"  Cholesky N×N (float64):  {chol * 1e3,9:F1} ms  {cholRate,7:F1} GFLOP/s");
            Console.WriteLine($"  plain matmul [N×d][d×N]: {plain * 1e3,9:F1} ms  {plainRate,7:F1} GFLOP/s");
            Console.WriteLine($"  Gram+Cholesky: {combinedRate:F1} GFLOP/s, ratio to plain matmul {combinedRate / plainRate:F2} (target ≥ 0.5)");
            Console.WriteLine($"  EmpiricalFisher first InverseTimes (factorise + solve): {first * 1e3:F1} ms");
        }
        Console.WriteLine($"peak RSS: {Measure.PeakRssMiB():F0} MiB");
    }
}
