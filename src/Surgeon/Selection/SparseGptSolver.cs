using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// SparseGPT's column-block solver for one layer (see <see cref="LayerwiseObs"/>; after IST-DASLab's fasterprune): U is
/// the upper Cholesky factor of H⁻¹; for each block of columns the mask is chosen at the block start by w²/U_jj² (the
/// block's share of the layer's count, or N of every M columns per row), then column j is quantised to its mask and its
/// error (w_j − q_j)/U_jj is spread over the later columns of the block by U's row j, and over the later blocks at once.
/// </summary>
internal static class SparseGptSolver
{
    public static (Tensor Weights, Tensor Keep) Prune(Tensor w, Tensor h, long prune, int n, int m, Tensor? allowed,
        int blockSize = LayerwiseObs.SparseGptBlock)
    {
        using var scope = NewDisposeScope();
        long rows = w.shape[0], cols = w.shape[1];
        var weights = w.to(ScalarType.Float64).clone();
        var hinv = cholesky_inverse(linalg.cholesky(h));
        var u = linalg.cholesky(hinv).T.contiguous(); // upper: H⁻¹ = UᵀU
        var pruned = zeros(rows, cols, ScalarType.Bool);
        var forced = allowed?.logical_not();
        var ninf = HeldScalars.Of(double.NegativeInfinity);
        for (long i1 = 0; i1 < cols; i1 += blockSize)
        {
            using var blockScope = NewDisposeScope();
            long i2 = Math.Min(i1 + blockSize, cols), count = i2 - i1;
            var w1 = weights.narrow(1, i1, count).clone();
            var q1 = zeros_like(w1);
            var err1 = zeros_like(w1);
            var u1 = u.narrow(0, i1, count).narrow(1, i1, count);
            var d1 = u1.diagonal();
            var f1 = forced?.narrow(1, i1, count);
            var mask1 = f1?.clone() ?? zeros(rows, count, ScalarType.Bool);
            if (m == 0)
            {
                // This block's share of the layer's count, by cumulative rounding so the shares sum to the count.
                long share = (long)Math.Floor((double)prune * i2 / cols) - (long)Math.Floor((double)prune * i1 / cols);
                var tmp = w1.Squared().div(d1.Squared().unsqueeze(0));
                if (f1 is not null) tmp = tmp.masked_fill(f1, ninf);
                long take = Math.Max(share, f1?.sum().item<long>() ?? 0);
                if (take > 0)
                {
                    var (_, idx) = tmp.flatten().sort(stable: true);
                    mask1.view(-1).index_fill_(0, idx.narrow(0, 0, Math.Min(take, idx.numel())), HeldScalars.One);
                }
            }
            for (long i = 0; i < count; i++)
            {
                if (m > 0 && i % m == 0)
                {
                    long len = Math.Min(m, count - i);
                    var tmp = w1.narrow(1, i, len).Squared().div(d1.narrow(0, i, len).Squared().unsqueeze(0));
                    if (f1 is not null) tmp = tmp.masked_fill(f1.narrow(1, i, len), ninf);
                    var (_, idx) = tmp.topk((int)Math.Min(n, len), dim: 1, largest: false);
                    mask1.narrow(1, i, len).scatter_(1, idx, ones_like(idx, ScalarType.Bool));
                }
                var col = w1.select(1, i);
                var q = col.masked_fill(mask1.select(1, i), HeldScalars.Of(0));
                q1.select(1, i).copy_(q);
                var err = col.add(q, HeldScalars.Of(-1)).div_(d1[i]);
                w1.narrow(1, i, count - i).add_(err.unsqueeze(1).matmul(u1.narrow(0, i, 1).narrow(1, i, count - i)), HeldScalars.Of(-1));
                err1.select(1, i).copy_(err);
            }
            weights.narrow(1, i1, count).copy_(q1);
            if (i2 < cols)
                weights.narrow(1, i2, cols - i2).add_(err1.matmul(u.narrow(0, i1, count).narrow(1, i2, cols - i2)), HeldScalars.Of(-1));
            pruned.narrow(1, i1, count).copy_(mask1);
        }
        return (weights.MoveToOuterDisposeScope(), pruned.logical_not().MoveToOuterDisposeScope());
    }
}
