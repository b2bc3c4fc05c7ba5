using Surgeon.Compression;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// The grid with the least squared quantisation error Σ(x − q(x))², per row of a [rows, n] tensor (one row per channel,
/// or the whole tensor as one row). Two stages, each of which can only lower the error:
/// <list type="number">
/// <item>a grid search over clipping ranges α·[min, max], α = i/G for i = G … 1 (the min–max grid is α = 1); a row keeps
/// the first α of least error;</item>
/// <item>Lloyd-style refinement: with the codes q of the current grid fixed, the least-squares scale is
/// Σx(q − z) / Σ(q − z)² (z the zero point, kept); the new scale is taken where it lowers the error, up to
/// <see cref="RefinementRounds"/> rounds.</item>
/// </list>
/// Errors are summed in float64 over the float32 fake-quantised values the grid really produces.
/// </summary>
internal static class ClippingSearch
{
    public const int RefinementRounds = 10;

    /// <summary>
    /// The best grid for each row of <paramref name="rows"/> ([rows, n], float32), along axis 0. The clipping factors
    /// scale each row's [min, max], or <paramref name="min"/> and <paramref name="max"/> when given (a range known
    /// beyond the values searched on).
    /// </summary>
    public static TensorQuantization Search(Tensor rows, int bits, bool symmetric, int gridPoints, double[]? min = null, double[]? max = null)
    {
        if (rows.dim() != 2 || rows.shape[1] == 0)
            throw new ArgumentException($"the clipping search takes a non-empty [rows, n] tensor, got [{string.Join(", ", rows.shape)}]");
        if (gridPoints < 1) throw new ArgumentOutOfRangeException(nameof(gridPoints), gridPoints, "at least one clipping factor");
        using var scope = NewDisposeScope();
        var x = rows.detach().to(ScalarType.Float32).contiguous();
        var exact = x.to(ScalarType.Float64);
        min ??= x.amin(1).to(ScalarType.Float64).data<double>().ToArray();
        max ??= x.amax(1).to(ScalarType.Float64).data<double>().ToArray();
        int n = min.Length;
        if (n != x.shape[0] || max.Length != n)
            throw new ArgumentException($"{x.shape[0]} rows but {min.Length} minima and {max.Length} maxima");

        var best = new TensorQuantization(bits, symmetric, 0, new double[n], new long[n]);
        var bestError = Enumerable.Repeat(double.PositiveInfinity, n).ToArray();
        for (int i = gridPoints; i >= 1; i--)
        {
            double alpha = (double)i / gridPoints;
            var candidate = QuantizationGrid.FromRanges(min.Select(v => alpha * v).ToArray(), max.Select(v => alpha * v).ToArray(),
                bits, symmetric, axis: 0);
            best = KeepBetter(best, bestError, candidate, Errors(x, exact, candidate));
        }
        for (int round = 0; round < RefinementRounds; round++)
        {
            var refined = LeastSquaresScales(x, exact, best);
            if (refined is null) break;
            double[] before = (double[])bestError.Clone();
            best = KeepBetter(best, bestError, refined, Errors(x, exact, refined));
            if (before.SequenceEqual(bestError)) break;
        }
        return best;
    }

    /// <summary>Σ(x − q(x))² per row, in float64.</summary>
    public static double[] Errors(Tensor x, Tensor exact, TensorQuantization q)
    {
        using var scope = NewDisposeScope();
        var error = exact.add(UniformQuantizer.FakeQuantize(x, q).to(ScalarType.Float64), HeldScalars.Of(-1));
        return error.mul(error).sum(dim: 1).data<double>().ToArray();
    }

    /// <summary>Rows where <paramref name="errors"/> beats <paramref name="bestError"/> take the candidate's grid.</summary>
    private static TensorQuantization KeepBetter(TensorQuantization best, double[] bestError, TensorQuantization candidate, double[] errors)
    {
        var scales = (double[])best.Scales.Clone();
        var zeros = (long[])best.ZeroPoints.Clone();
        for (int r = 0; r < errors.Length; r++)
            if (errors[r] < bestError[r])
            {
                bestError[r] = errors[r];
                scales[r] = candidate.Scales[r];
                zeros[r] = candidate.ZeroPoints[r];
            }
        return best with { Scales = scales, ZeroPoints = zeros };
    }

    /// <summary>The least-squares scale of each row for its current codes (rows with no nonzero code keep theirs); null when no row changes.</summary>
    private static TensorQuantization? LeastSquaresScales(Tensor x, Tensor exact, TensorQuantization q)
    {
        using var scope = NewDisposeScope();
        var (_, zero) = UniformQuantizer.Grid(q, x);
        var steps = UniformQuantizer.Codes(x, q).add_(zero, HeldScalars.Of(-1)).to(ScalarType.Float64);
        double[] numerator = exact.mul(steps).sum(dim: 1).data<double>().ToArray();
        double[] denominator = steps.mul(steps).sum(dim: 1).data<double>().ToArray();
        var scales = (double[])q.Scales.Clone();
        bool changed = false;
        for (int r = 0; r < scales.Length; r++)
        {
            if (denominator[r] == 0) continue;
            float s = (float)(numerator[r] / denominator[r]);
            if (!(s > 0) || float.IsInfinity(s) || s == scales[r]) continue;
            scales[r] = s;
            changed = true;
        }
        return changed ? q with { Scales = scales } : null;
    }
}
