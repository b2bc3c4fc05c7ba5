using System.Diagnostics;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Numerics;
using Surgeon.Selection;
using Surgeon.Training;
using Surgeon.Update;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// The memory of CBS-U's kept-set solve (<see cref="CbsUpdate.Apply"/>, chunked through <see cref="KeptColumns"/>)
/// against the previous implementation, kept here as it was (G_U and G_P gathered whole, G_P again in float64), on the
/// committed MLPNet of docs/cbs-mlpnet (d = 32,360 weights, one Fisher block) with N per-sample gradients of the
/// embedded digits (default 8,000, the whole training split; argument: SURGEON_BENCH_N). Printed per sparsity: the
/// peak resident memory above the baseline (VmHWM reset, free heap pages returned first) in MiB and as a multiple of
/// G's size (the floor is 0: the solve needs nothing but G and vectors when |U| is small), the seconds, and the
/// largest difference between the two results.
/// </summary>
internal static class KeptSetMemoryBench
{
    public static void Run()
    {
        int n = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_N"), out int v) ? v : 8000;
        var (model, _) = Checkpoint.Load("docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var parameters = PrunableParameters.Discover(model);
        using var fisher = EmpiricalFisher.FromData(model, parameters, train, Math.Min(n, train.Count), 1, 0, 1e-3, 0, CPU,
            Progress.NullProgress.Instance);
        var w = PrunableParameters.Flatten(parameters).to(ScalarType.Float64);
        double gMiB = fisher.G.numel() * 4 / 1048576.0;
        Console.WriteLine($"MLPNet digits (d = {fisher.D:N0}), N = {fisher.N:N0}, G = {gMiB:N0} MiB, {fisher.Blocks.Count} block(s)");
        Console.WriteLine("| sparsity | path | chunked: peak MiB above baseline (× G) | s | previous: peak MiB (× G) | s | max |Δw| |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (double sparsity in new[] { 0.98, 0.9, 0.5 })
        {
            var keep = TopK.PruneLowest(w.abs(), SparsityTarget.PruneCount(sparsity, w.numel()));
            long kept = keep.sum().item<long>();
            var (chunked, chunkedMiB, chunkedSeconds) = Peak(() => CbsUpdate.Apply(fisher, w, keep));
            var (previous, previousMiB, previousSeconds) = Peak(() => Previous(fisher, w, keep));
            double diff = chunked.sub(previous).abs().max().item<double>();
            Console.WriteLine($"| {sparsity} | {(kept > fisher.N ? "N×N (Woodbury)" : "|U|×|U|")} | {chunkedMiB:N0} ({chunkedMiB / gMiB:F2}) | {chunkedSeconds:F1} | " +
                $"{previousMiB:N0} ({previousMiB / gMiB:F2}) | {previousSeconds:F1} | {diff:E1} |");
            chunked.Dispose();
            previous.Dispose();
            keep.Dispose();
        }
    }

    internal static (Tensor Result, double PeakMiB, double Seconds) Peak(Func<Tensor> run)
    {
        GC.Collect();
        Measure.TrimNativeHeap();
        double baseline = Measure.CurrentRssMiB();
        Measure.ResetPeakRss();
        var clock = Stopwatch.StartNew();
        var result = run();
        double seconds = clock.Elapsed.TotalSeconds;
        return (result, Measure.PeakRssMiB() - baseline, seconds);
    }

    /// <summary>The kept-set solve before the chunking (commit 8f324b4's RidgeBacksolve, first-order term left out).</summary>
    private static Tensor Previous(EmpiricalFisher fisher, Tensor w, Tensor keep)
    {
        using var scope = NewDisposeScope();
        var result = w.flatten().to(ScalarType.Float64).clone();
        var keepFlat = keep.flatten().to(ScalarType.Bool);
        double n = fisher.N, lambda = fisher.Lambda;
        foreach (var block in fisher.Blocks)
        {
            using var blockScope = NewDisposeScope();
            var keepB = keepFlat.narrow(0, block.Offset, block.Length);
            var wB = result.narrow(0, block.Offset, block.Length);
            var prunedIdx = keepB.logical_not().nonzero().flatten();
            var keptIdx = keepB.nonzero().flatten();
            if (prunedIdx.numel() == 0) continue;
            var gB = fisher.Columns(block);
            var gP = gB.index_select(1, prunedIdx).to(ScalarType.Float64);
            var gU = gB.index_select(1, keptIdx);
            var r = gP.matmul(wB.index_select(0, prunedIdx));
            Tensor delta;
            if (keptIdx.numel() > fisher.N)
            {
                var k = gU.matmul(gU.T).to(ScalarType.Float64);
                k.diagonal().add_(HeldScalars.Of(n * lambda), HeldScalars.One);
                var l = linalg.cholesky(k);
                delta = gU.T.to(ScalarType.Float64).matmul(cholesky_solve(r.unsqueeze(1), l).squeeze(1));
            }
            else
            {
                var a = gU.T.matmul(gU).to(ScalarType.Float64).div_(HeldScalars.Of(n));
                a.diagonal().add_(HeldScalars.Of(lambda), HeldScalars.One);
                var l = linalg.cholesky(a);
                var rhs = gU.T.to(ScalarType.Float64).matmul(r).div_(HeldScalars.Of(n));
                delta = cholesky_solve(rhs.unsqueeze(1), l).squeeze(1);
            }
            wB.index_add_(0, keptIdx, delta, HeldScalars.One);
            wB.index_fill_(0, prunedIdx, HeldScalars.Of(0));
        }
        return result.MoveToOuterDisposeScope();
    }
}
