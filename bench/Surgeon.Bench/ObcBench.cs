using System.Diagnostics;
using Surgeon.Numerics;
using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// OBC's greedy sequence on MLPNet's first layer shape (40 rows × 784 inputs, the layer that holds 97 % of its weights),
/// 768 steps per row (98 %, as <c>obc</c> at high sparsity needs): the implementation (rows in
/// cache-sized chunks, in-place downdate, compaction of removed columns) against the previous one (all rows at once,
/// R×C×C temporaries every step), same inputs, same run; the two must give the same order and weights. The previous
/// path is slow, so it runs on the first <c>oldRows</c> rows only and its time is also shown scaled to all rows.
/// </summary>
internal static class ObcBench
{
    public static void Run()
    {
        const int rows = 40, cols = 784, samples = 1000, oldRows = 3, steps = 768; // 98 % of each row removed
        var gen = new Generator(7);
        var x = randn(samples, cols, dtype: ScalarType.Float64, generator: gen).relu(); // post-ReLU-like inputs
        var w = randn(rows, cols, dtype: ScalarType.Float64, generator: gen).mul(HeldScalars.Of(0.05));
        var h = x.T.matmul(x).mul(HeldScalars.Of(2.0 / samples));
        h.diagonal().add_(HeldScalars.Of(0.01 * h.diagonal().mean().item<double>()), HeldScalars.One);

        Console.WriteLine($"OBC greedy sequence, {steps} of {cols} weights per row, float64, OMP threads {get_num_threads()}");
        var oldW = w.narrow(0, 0, oldRows);
        var clock = Stopwatch.StartNew();
        var (oldWeights, oldOrder, _, _) = PreviousSequence(oldW, h, steps);
        double oldSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  previous (all rows together, temporaries): {oldRows} rows {oldSeconds:F1} s = {oldSeconds / oldRows:F2} s/row → {oldSeconds / oldRows * rows:F0} s for {rows} rows (scaled)");

        foreach (long chunkBytes in new[] { Obc.ChunkBytes, 4L << 20, 64L << 20 })
        {
            clock.Restart();
            var (newWeights, newOrder, _, _) = Obc.Sequence(w, h, steps, forced: null, chunkBytes: chunkBytes);
            double newSeconds = clock.Elapsed.TotalSeconds;
            int sameOrder = 0;
            for (int r = 0; r < oldRows; r++)
                if (Enumerable.Range(0, steps).All(t => oldOrder[r, t] == newOrder[r, t])) sameOrder++;
            double diff = (newWeights.narrow(0, 0, oldRows) - oldWeights).abs().max().item<double>();
            long chunkRows = Math.Max(1, chunkBytes / (8L * cols * cols));
            Console.WriteLine($"  chunked, compacting ({chunkRows} rows per chunk, {chunkBytes >> 20} MiB): {rows} rows {newSeconds:F1} s = {newSeconds / rows:F2} s/row; " +
                $"speed-up per row {oldSeconds / oldRows / (newSeconds / rows):F1}×; same order on {sameOrder}/{oldRows} rows, max |Δw| {diff:G2}");
        }
    }

    /// <summary>The implementation before this bench (commit dc4d1a3), kept here for comparison: all rows at once, the
    /// rank-1 downdate as R×C×C temporaries each step, no compaction.</summary>
    private static (Tensor Weights, long[,] Order, double[,] Increase, int[] Steps) PreviousSequence(Tensor w, Tensor h, int maxSteps)
    {
        using var scope = NewDisposeScope();
        long rows = w.shape[0], cols = w.shape[1];
        var l = linalg.cholesky(h);
        var hinv = cholesky_inverse(l).unsqueeze(0).expand(rows, cols, cols).clone();
        var weights = w.to(ScalarType.Float64).clone();
        var removed = zeros(rows, cols, ScalarType.Bool);
        var order = new long[rows, maxSteps];
        var increase = new double[rows, maxSteps];
        var steps = new int[rows];
        var inf = HeldScalars.Of(double.PositiveInfinity);
        for (int t = 0; t < maxSteps; t++)
        {
            using var stepScope = NewDisposeScope();
            var diag = hinv.diagonal(dim1: 1, dim2: 2);
            var score = weights.Squared().div(diag.clamp_min(HeldScalars.Of(1e-300)));
            var allowed = removed.logical_not();
            score = score.masked_fill(allowed.logical_not(), inf);
            var (best, q) = score.min(dim: 1);
            var active = best.isfinite().logical_and(allowed.any(dim: 1));
            if (!active.any().item<bool>()) break;
            var hq = hinv.gather(2, q.view(rows, 1, 1).expand(rows, cols, 1)).squeeze(2);
            var dq = hq.gather(1, q.unsqueeze(1)).squeeze(1);
            var wq = weights.gather(1, q.unsqueeze(1)).squeeze(1);
            var act = active.to(ScalarType.Float64);
            var coef = wq.div(dq).mul(act);
            weights.add_(hq.mul(coef.unsqueeze(1)), HeldScalars.Of(-1));
            var current = weights.gather(1, q.unsqueeze(1));
            weights.scatter_(1, q.unsqueeze(1), current.masked_fill(active.unsqueeze(1), HeldScalars.Of(0)));
            var outer = hq.unsqueeze(2).mul(hq.unsqueeze(1)).div(dq.mul(act).add(act.logical_not().to(ScalarType.Float64), HeldScalars.One).view(rows, 1, 1));
            hinv.add_(outer.mul(act.view(rows, 1, 1)), HeldScalars.Of(-1));
            removed.scatter_(1, q.unsqueeze(1), active.unsqueeze(1).logical_or(removed.gather(1, q.unsqueeze(1))));
            weights.masked_fill_(removed, HeldScalars.Of(0));
            var qa = q.data<long>().ToArray();
            var wa = wq.data<double>().ToArray();
            var da = dq.data<double>().ToArray();
            var aa = active.data<bool>().ToArray();
            for (int r = 0; r < rows; r++)
            {
                if (!aa[r]) continue;
                order[r, steps[r]] = qa[r];
                increase[r, steps[r]] = wa[r] * wa[r] / (2 * da[r]);
                steps[r]++;
            }
        }
        return (weights.MoveToOuterDisposeScope(), order, increase, steps);
    }
}
