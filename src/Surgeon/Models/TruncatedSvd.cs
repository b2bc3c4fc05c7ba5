using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// A weight as rank-r factors, W ≈ U·diag(s)·Vᵀ: U is F×r (one column per output), V is D×r (D = C·k·k for a conv,
/// whose weight is read as the F × C·k·k matrix of its filters), s the r singular values (or selector weights).
/// </summary>
internal sealed record LowRankFactors(Tensor U, Tensor S, Tensor V) : IDisposable
{
    public long Rank => S.shape[0];

    /// <summary>U·diag(s)·Vᵀ, the F×D matrix the factors stand for.</summary>
    public Tensor Product() => U.mul(S.unsqueeze(0)).matmul(V.T);

    public void Dispose()
    {
        U.Dispose();
        S.Dispose();
        V.Dispose();
    }
}

/// <summary>
/// Truncated singular value decomposition: the best rank-r approximation of a matrix in the Frobenius and spectral
/// norms (Eckart–Young), and the rank that keeps a given fraction of the energy Σσ².
/// </summary>
internal static class TruncatedSvd
{
    /// <summary>The weight of a Linear (F×D) or Conv2d (F×C×k×k) as the F × (C·k·k) matrix the factors approximate.</summary>
    public static Tensor Matrix(Tensor weight)
    {
        if (weight.dim() < 2)
            throw new SurgeonException($"a weight of shape [{string.Join(", ", weight.shape)}] is not a matrix or a filter bank");
        return weight.reshape(weight.shape[0], -1);
    }

    /// <summary>All singular values of <paramref name="matrix"/>, largest first, in float64.</summary>
    public static Tensor SingularValues(Tensor matrix)
    {
        using var scope = NewDisposeScope();
        return linalg.svdvals(matrix.detach().to(float64)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The rank-<paramref name="rank"/> truncation of <paramref name="matrix"/> (F×D), computed in float64 and returned in
    /// the matrix's dtype. A rank above min(F, D) is an error: the factors would be padded with zeros, which stores more
    /// than the matrix.
    /// </summary>
    public static LowRankFactors Factorize(Tensor matrix, long rank)
    {
        if (matrix.dim() != 2)
            throw new SurgeonException($"truncated SVD needs a matrix, got shape [{string.Join(", ", matrix.shape)}]");
        long full = Math.Min(matrix.shape[0], matrix.shape[1]);
        if (rank < 1 || rank > full)
            throw new SurgeonException($"rank {rank} is not possible for a {matrix.shape[0]}×{matrix.shape[1]} matrix (1 to {full})");
        using var scope = NewDisposeScope();
        var (u, s, vh) = linalg.svd(matrix.detach().to(float64), fullMatrices: false);
        var dtype = matrix.dtype;
        var factors = new LowRankFactors(
            u.narrow(1, 0, rank).to(dtype).contiguous().MoveToOuterDisposeScope(),
            s.narrow(0, 0, rank).to(dtype).contiguous().MoveToOuterDisposeScope(),
            vh.narrow(0, 0, rank).T.to(dtype).contiguous().MoveToOuterDisposeScope());
        return factors;
    }

    /// <summary>
    /// The smallest r whose leading singular values hold at least <paramref name="fraction"/> of the energy Σσ²
    /// (1 for a zero matrix). <paramref name="singular"/> is sorted largest first.
    /// </summary>
    public static long RankForEnergy(Tensor singular, double fraction)
    {
        if (!(fraction > 0 && fraction <= 1))
            throw new SurgeonException($"an energy fraction must be in (0, 1], got {fraction}");
        var s = singular.to(float64).cpu().data<double>().ToArray();
        double total = s.Sum(x => x * x), sum = 0;
        if (total == 0) return 1;
        for (int r = 0; r < s.Length; r++)
        {
            sum += s[r] * s[r];
            if (sum >= fraction * total) return r + 1;
        }
        return s.Length;
    }

    /// <summary>The fraction of the energy Σσ² the leading <paramref name="rank"/> singular values hold.</summary>
    public static double EnergyKept(Tensor singular, long rank)
    {
        var s = singular.to(float64).cpu().data<double>().ToArray();
        double total = s.Sum(x => x * x);
        return total == 0 ? 1 : s.Take((int)rank).Sum(x => x * x) / total;
    }
}
