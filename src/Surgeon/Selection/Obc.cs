using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// OBC's exact greedy OBS per row of one layer (see <see cref="LayerwiseObs"/>), rows batched: each row r carries its
/// own H⁻¹ (B×C×C, float64, B rows at a time). A step removes, in every active row, the weight q of least
/// w_q²/[H⁻¹]_qq (among the forced ones while any are left), applies w −= (w_q/[H⁻¹]_qq)H⁻¹e_q and downdates
/// H⁻¹ −= H⁻¹e_qe_qᵀH⁻¹/[H⁻¹]_qq, the rank-1 downdate of all B rows in one in-place broadcast multiply-add.
/// </summary>
/// <remarks>
/// Speed (bench <c>obc</c>): the downdate streams B·C² numbers per step, so the work is kept small three ways: no
/// B×C×C temporaries (the outer product is fused into one in-place broadcast <c>addcmul_</c>); rows in chunks of <see cref="ChunkBytes"/>
/// (a chunk's inverses stay in cache far longer than all rows' would, and memory stays bounded); and compaction: a
/// removed weight's row and column of H⁻¹ are zero from then on, so every time an eighth of the current columns of
/// every row are gone the chunk's inverses are gathered down to the columns still present (per row; rows that
/// removed fewer keep a few removed columns as padding, which the scores skip), so step t costs (C − t)² per row,
/// not C² — about a third of the work over a whole sequence.
/// </remarks>
internal static class Obc
{
    /// <summary>Bytes of per-row inverses processed together (rows of a chunk = this / (8·C²), at least 1).</summary>
    public const long ChunkBytes = 16L << 20;

    /// <summary>One removal sequence per row: the order of removal and each step's loss increase w_q²/(2[H⁻¹]_qq); the
    /// rows' weights after the sequence. <paramref name="eligible"/>(removed so far, first row) marks what may go next
    /// in the rows [first row, first row + removed rows) (null = any weight not yet removed); a row with nothing
    /// eligible stops. <paramref name="chunkBytes"/> sets the rows processed together (tests and the bench vary it).</summary>
    public static (Tensor Weights, long[,] Order, double[,] Increase, int[] Steps) Sequence(Tensor w, Tensor h, int maxSteps,
        Tensor? forced, Func<Tensor, long, Tensor>? eligible = null, long chunkBytes = ChunkBytes)
    {
        using var scope = NewDisposeScope();
        long rows = w.shape[0], cols = w.shape[1];
        var l = linalg.cholesky(h);
        var hinvFull = cholesky_inverse(l);
        var weights = w.to(ScalarType.Float64).clone();
        var order = new long[rows, maxSteps];
        var increase = new double[rows, maxSteps];
        var steps = new int[rows];
        long chunk = Math.Max(1, chunkBytes / (8 * cols * cols));
        for (long r0 = 0; r0 < rows; r0 += chunk)
        {
            using var chunkScope = NewDisposeScope();
            long b = Math.Min(chunk, rows - r0);
            var rowWeights = weights.narrow(0, r0, b);
            var result = ChunkSequence(rowWeights, hinvFull, maxSteps, forced?.narrow(0, r0, b),
                eligible is null ? null : removed => eligible(removed, r0), order, increase, steps, r0);
            rowWeights.copy_(result);
        }
        return (weights.MoveToOuterDisposeScope(), order, increase, steps);
    }

    /// <summary>The greedy sequence of B rows; writes their orders, increases and step counts from row
    /// <paramref name="r0"/> on and returns their weights (B×C, original column order).</summary>
    private static Tensor ChunkSequence(Tensor w, Tensor hinvFull, int maxSteps, Tensor? forcedFull,
        Func<Tensor, Tensor>? eligible, long[,] order, double[,] increase, int[] steps, long r0)
    {
        using var scope = NewDisposeScope();
        long b = w.shape[0], cols = w.shape[1];
        var hinv = hinvFull.unsqueeze(0).expand(b, cols, cols).clone();   // per-row H⁻¹ on the current columns
        var columns = arange(cols).unsqueeze(0).expand(b, cols).clone();  // current column → original column, per row
        var weights = w.clone();                                          // on the current columns
        var removed = zeros(b, cols, ScalarType.Bool);
        var removedFull = zeros(b, cols, ScalarType.Bool);               // original column order, for eligible()
        var forced = forcedFull?.clone();
        long width = cols, removedSinceCompaction = 0;
        var inf = HeldScalars.Of(double.PositiveInfinity);
        var rowIndex = arange(b);
        for (int t = 0; t < maxSteps; t++)
        {
            using var stepScope = NewDisposeScope();
            var diag = hinv.diagonal(dim1: 1, dim2: 2);
            var score = weights.Squared().div_(diag.clamp_min(HeldScalars.Of(1e-300)));
            var allowed = removed.logical_not();
            if (eligible is not null) allowed = allowed.logical_and(eligible(removedFull).gather(1, columns));
            if (forced is not null)
            {
                // a row with forced weights left removes the cheapest of them next
                var forcedLeft = forced.logical_and(removed.logical_not());
                allowed = allowed.logical_and(forcedLeft.logical_or(forcedLeft.any(dim: 1, keepdim: true).logical_not()));
            }
            score.masked_fill_(allowed.logical_not(), inf);
            var (best, q) = score.min(dim: 1);
            var active = best.isfinite().logical_and(allowed.any(dim: 1));
            if (!active.any().item<bool>()) break;
            var hq = hinv[rowIndex, q]; // row q of each row's H⁻¹ (symmetric), [B, W]
            var dq = hq.gather(1, q.unsqueeze(1)).squeeze(1);                             // [H⁻¹]_qq
            var wq = weights.gather(1, q.unsqueeze(1)).squeeze(1);
            var act = active.to(ScalarType.Float64);
            var safeDq = where(active, dq, ones_like(dq));
            weights.add_(hq.mul(wq.div(safeDq).mul_(act).unsqueeze(1)), HeldScalars.Of(-1));
            hinv.addcmul_(hq.unsqueeze(2), hq.mul(act.div(safeDq).unsqueeze(1)).unsqueeze(1), HeldScalars.Of(-1));
            var newly = zeros(b, width, ScalarType.Bool).scatter_(1, q.unsqueeze(1), active.unsqueeze(1));
            removed.logical_or_(newly);
            weights.masked_fill_(removed, HeldScalars.Of(0)); // exact zeros (the update leaves rounding at q)
            var original = columns.gather(1, q.unsqueeze(1)).squeeze(1);
            removedFull.scatter_(1, original.unsqueeze(1), active.unsqueeze(1).logical_or(removedFull.gather(1, original.unsqueeze(1))));
            var qa = original.data<long>().ToArray();
            var wa = wq.data<double>().ToArray();
            var da = dq.data<double>().ToArray();
            var aa = active.data<bool>().ToArray();
            for (int r = 0; r < b; r++)
            {
                if (!aa[r]) continue;
                long row = r0 + r;
                order[row, steps[row]] = qa[r];
                increase[row, steps[row]] = wa[r] * wa[r] / (2 * da[r]);
                steps[row]++;
            }
            if (++removedSinceCompaction * 8 >= width && width > 16)
            {
                // keep, per row, the columns still present (stable: present first, in their order), padded with removed
                // ones up to the largest count present; then gather the inverses, weights and flags down to them
                long present = removed.logical_not().sum(dim: 1).max().item<long>();
                if (present < width)
                {
                    var keys = removed.to(ScalarType.Int64).mul(HeldScalars.Of(width)).add_(arange(width).unsqueeze(0), HeldScalars.One);
                    var pick = keys.argsort(dim: 1).narrow(1, 0, Math.Max(1, present));
                    hinv = hinv.gather(1, pick.unsqueeze(2).expand(b, pick.shape[1], width))
                        .gather(2, pick.unsqueeze(1).expand(b, pick.shape[1], pick.shape[1])).contiguous().MoveToOuterDisposeScope();
                    weights = weights.gather(1, pick).MoveToOuterDisposeScope();
                    removed = removed.gather(1, pick).MoveToOuterDisposeScope();
                    columns = columns.gather(1, pick).MoveToOuterDisposeScope();
                    if (forced is not null) forced = forced.gather(1, pick).MoveToOuterDisposeScope();
                    width = pick.shape[1];
                }
                removedSinceCompaction = 0;
            }
        }
        var result = zeros(b, cols, ScalarType.Float64).scatter_(1, columns, weights);
        return result.MoveToOuterDisposeScope();
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
        Tensor Eligible(Tensor removed, long firstRow)
        {
            long b = removed.shape[0];
            var perGroup = zeros(b, groups, ScalarType.Int64).index_add_(1, group, removed.to(ScalarType.Int64), HeldScalars.One);
            var open = perGroup.lt(quota.unsqueeze(0));                                      // [B, groups]
            var ok = open.index_select(1, group);
            return forced is null ? ok : ok.logical_or(forced.narrow(0, firstRow, b));
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
