using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// OBC's exact greedy OBS per row of one layer (see <see cref="LayerwiseObs"/>), all rows at once: each row r carries
/// its own H⁻¹ (R×C×C, float64). A step removes, in every active row, the weight q of least w_q²/[H⁻¹]_qq (weights
/// already pruned first), applies w −= (w_q/[H⁻¹]_qq)H⁻¹e_q and downdates H⁻¹ −= H⁻¹e_qe_qᵀH⁻¹/[H⁻¹]_qq.
/// </summary>
public static class Obc
{
    /// <summary>One removal sequence per row: the order of removal and each step's loss increase w_q²/(2[H⁻¹]_qq); the
    /// rows' weights after the sequence. <paramref name="eligible"/>(removed so far, step) marks what may go next
    /// (null = any weight not yet removed); a row with nothing eligible stops.</summary>
    public static (Tensor Weights, long[,] Order, double[,] Increase, int[] Steps) Sequence(Tensor w, Tensor h, int maxSteps,
        Tensor? forced, Func<Tensor, Tensor>? eligible = null)
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
            if (eligible is not null) allowed = allowed.logical_and(eligible(removed));
            if (forced is not null)
                score = score.masked_fill(forced.logical_and(removed.logical_not()), HeldScalars.Of(double.NegativeInfinity));
            score = score.masked_fill(allowed.logical_not(), inf);
            var (best, q) = score.min(dim: 1);
            var active = best.isfinite().logical_or(best.isneginf());
            active = active.logical_and(allowed.any(dim: 1));
            if (!active.any().item<bool>()) break;
            var hq = hinv.gather(2, q.view(rows, 1, 1).expand(rows, cols, 1)).squeeze(2); // H⁻¹e_q per row, [R, C]
            var dq = hq.gather(1, q.unsqueeze(1)).squeeze(1);                   // [H⁻¹]_qq
            var wq = weights.gather(1, q.unsqueeze(1)).squeeze(1);
            var act = active.to(ScalarType.Float64);
            var coef = wq.div(dq).mul(act);
            weights.add_(hq.mul(coef.unsqueeze(1)), HeldScalars.Of(-1));
            var current = weights.gather(1, q.unsqueeze(1));                    // ≈ 0 after the update: make it exact
            weights.scatter_(1, q.unsqueeze(1), current.masked_fill(active.unsqueeze(1), HeldScalars.Of(0)));
            var outer = hq.unsqueeze(2).mul(hq.unsqueeze(1)).div(dq.mul(act).add(act.logical_not().to(ScalarType.Float64), HeldScalars.One).view(rows, 1, 1));
            hinv.add_(outer.mul(act.view(rows, 1, 1)), HeldScalars.Of(-1));
            removed.scatter_(1, q.unsqueeze(1), active.unsqueeze(1).logical_or(removed.gather(1, q.unsqueeze(1))));
            weights.masked_fill_(removed, HeldScalars.Of(0)); // removed weights' H⁻¹ columns are 0 only up to rounding
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

    /// <summary>Unstructured: prunes <paramref name="prune"/> weights of the layer (weights not <paramref name="allowed"/>
    /// first), spread over the rows by pooling their greedy removal costs (always the row whose next removal costs least),
    /// each row's kept weights then the exact reconstruction w_U + H_UU⁻¹H_UP w_P.</summary>
    public static (Tensor Weights, Tensor Keep) Prune(Tensor w, Tensor h, long prune, Tensor? allowed)
    {
        using var scope = NewDisposeScope();
        long rows = w.shape[0], cols = w.shape[1];
        var forced = allowed?.logical_not();
        var forcedCount = forced is null ? new long[rows] : forced.sum(dim: 1).data<long>().ToArray();
        if (prune < forcedCount.Sum()) prune = forcedCount.Sum();
        int maxSteps = (int)Math.Min(cols, prune);
        var (_, order, increase, steps) = Sequence(w, h, maxSteps, forced);
        var take = forcedCount.Select(c => (int)c).ToArray();
        var queue = new PriorityQueue<int, (double, int)>();
        for (int r = 0; r < rows; r++)
            if (take[r] < steps[r]) queue.Enqueue(r, (increase[r, take[r]], r));
        for (long left = prune - take.Sum(); left > 0 && queue.Count > 0; left--)
        {
            int r = queue.Dequeue();
            take[r]++;
            if (take[r] < steps[r]) queue.Enqueue(r, (increase[r, take[r]], r));
        }
        var flags = new bool[rows * cols];
        Array.Fill(flags, true);
        var result = w.to(ScalarType.Float64).clone();
        for (int r = 0; r < rows; r++)
        {
            if (take[r] == 0) continue;
            using var rowScope = NewDisposeScope();
            for (int i = 0; i < take[r]; i++) flags[r * cols + order[r, i]] = false;
            var p = tensor(Enumerable.Range(0, take[r]).Select(i => order[r, i]).ToArray());
            var u = tensor(Enumerable.Range(0, (int)cols).Where(c => flags[r * cols + c]).Select(c => (long)c).ToArray());
            var row = result[r];
            if (u.numel() > 0)
            {
                var huu = h.index_select(0, u).index_select(1, u);
                var hup = h.index_select(0, u).index_select(1, p);
                var delta = linalg.solve(huu, hup.matmul(row.index_select(0, p)));
                row.index_add_(0, u, delta, HeldScalars.One);
            }
            row.index_fill_(0, p, HeldScalars.Of(0));
        }
        var keep = tensor(flags).reshape(rows, cols);
        return (result.MoveToOuterDisposeScope(), keep.MoveToOuterDisposeScope());
    }

    /// <summary>N:M: every row's greedy sequence removes exactly min(N, group length) of each group of M (weights not
    /// <paramref name="allowed"/> first, even beyond N).</summary>
    public static (Tensor Weights, Tensor Keep) PrunePattern(Tensor w, Tensor h, int n, int m, Tensor? allowed)
    {
        using var scope = NewDisposeScope();
        long rows = w.shape[0], cols = w.shape[1];
        var forced = allowed?.logical_not();
        var group = arange(cols).div(m, rounding_mode: RoundingMode.floor);                  // group of each column
        long groups = (cols + m - 1) / m;
        var quota = tensor(Enumerable.Range(0, (int)groups).Select(g => (long)Math.Min(n, Math.Min(m, cols - (long)g * m))).ToArray());
        Tensor Eligible(Tensor removed)
        {
            var perGroup = zeros(rows, groups, ScalarType.Int64).index_add_(1, group, removed.to(ScalarType.Int64), HeldScalars.One);
            var open = perGroup.lt(quota.unsqueeze(0));                                      // [R, groups]
            var ok = open.index_select(1, group);
            return forced is null ? ok : ok.logical_or(forced);
        }
        int maxSteps = (int)(quota.sum().item<long>() + (forced is null ? 0 : forced.sum(dim: 1).max().item<long>()));
        var (weights, order, _, steps) = Sequence(w, h, Math.Min(maxSteps, (int)cols), forced, Eligible);
        var flags = new bool[rows * cols];
        Array.Fill(flags, true);
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < steps[r]; i++)
                flags[r * cols + order[r, i]] = false;
        var keep = tensor(flags).reshape(rows, cols);
        weights = weights.masked_fill(keep.logical_not(), HeldScalars.Of(0));
        return (weights.MoveToOuterDisposeScope(), keep.MoveToOuterDisposeScope());
    }
}
