using System.Globalization;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// The Cholesky factor of a damped Fisher system, refused with a one-line <see cref="SurgeonException"/> naming --lambda
/// where the result would be meaningless. Every such system (a block of <see cref="EmpiricalFisher"/>, CBS-U's kept-set
/// systems) is c·(λI + F_S), F_S = G_SᵀG_S/N, or its Woodbury twin NλI + G_SG_Sᵀ, with the Gram product formed in
/// float32 (G's dtype) and promoted to float64. That rounding is of the order of 2⁻²³·λ_max(F_S), so:
/// <list type="bullet">
/// <item>λI + F_S solved directly is noise where its smallest eigenvalue, λ + λ_min(F_S), is below that level (a tiny λ
/// is fine while F_S itself is well conditioned; estimated by inverse iteration on the factor);</item>
/// <item>the Woodbury form F_λ⁻¹ = (I − GᵀK⁻¹G)/λ cancels to the λ/(λ + s) part of each direction of G's row space and
/// divides by λ, so its error is about 2⁻²³·λ_max/λ whatever K's conditioning: λ itself must be above that level.</item>
/// </list>
/// Below it WoodFisher's and CBS's solves return garbage (or the factorisation fails) without any sign of it; such a λ
/// is refused, as is a failed factorisation.
/// </summary>
internal static class DampedCholesky
{
    /// <summary>float32's unit roundoff, 2⁻²³: the relative rounding of the Gram matrix.</summary>
    public const double Float32Resolution = 1.0 / (1 << 23);

    /// <summary>Power (and inverse) iterations: a bound that is close after a few dozen on a Gram matrix, and O(m²)
    /// each against the factorisation's m³/3.</summary>
    private const int PowerIterations = 30;

    /// <summary>
    /// The lower Cholesky factor of <paramref name="system"/> (float64, m×m): NλI + G_SG_Sᵀ when
    /// <paramref name="woodbury"/>, else λI + G_SᵀG_S/N. <paramref name="n"/> is N; <paramref name="where"/> names the
    /// block in messages.
    /// </summary>
    public static Tensor Factor(Tensor system, double lambda, int n, bool woodbury, string where)
    {
        using var scope = NewDisposeScope();
        var limit = Float32Limit.Of(system, lambda, n, woodbury, where);
        var (l, info) = linalg.cholesky_ex(system);
        if (info.max().item<int>() != 0 || !l.isfinite().all().item<bool>())
            throw new SurgeonException(
                $"the damped Fisher {where} is not positive definite in float64 (--lambda {lambda.ToString("G3", CultureInfo.InvariantCulture)}); raise --lambda");
        if (!woodbury) limit.CheckSmallest(() => SmallestEigenvalue(l));
        return l.MoveToOuterDisposeScope();
    }

    /// <summary>Rows and columns per diagonal block of <see cref="FactorInPlace"/>: its work beside the system is one
    /// panel of N×block float64 (32 MiB at N = 8,000) and the GEMMs stay large enough to run at full speed.</summary>
    public const int InPlaceBlock = 512;

    /// <summary>
    /// <see cref="Factor"/> without a second m×m matrix: <paramref name="system"/> (float64, m×m, contiguous) is
    /// overwritten with its lower Cholesky factor (upper triangle zeroed), by a blocked right-looking factorisation:
    /// LAPACK on each <paramref name="block"/>-sized diagonal block, a triangular solve for the panel below it, and an
    /// in-place GEMM update of the lower part of the trailing matrix. Why: libtorch's cholesky always writes a new
    /// matrix, so at N = 8,000 the Woodbury factor of WoodFisher and CBS-U held 2 × 488 MiB where the system needs
    /// one. The same checks and messages as <see cref="Factor"/>; the factor equals LAPACK's to rounding.
    /// </summary>
    public static void FactorInPlace(Tensor system, double lambda, int n, bool woodbury, string where, int block = InPlaceBlock)
    {
        if (system.dim() != 2 || system.shape[0] != system.shape[1] || system.dtype != ScalarType.Float64 || !system.is_contiguous())
            throw new ArgumentException($"the system must be a contiguous square float64 matrix, got [{string.Join(", ", system.shape)}] {system.dtype}");
        if (block < 1) throw new ArgumentOutOfRangeException(nameof(block), block, "the block must be at least 1");
        var limit = Float32Limit.Of(system, lambda, n, woodbury, where);
        if (!BlockedCholesky(system, block) || !AllFinite(system))
            throw new SurgeonException(
                $"the damped Fisher {where} is not positive definite in float64 (--lambda {lambda.ToString("G3", CultureInfo.InvariantCulture)}); raise --lambda");
        if (!woodbury) limit.CheckSmallest(() => SmallestEigenvalue(system));
    }

    /// <summary>Overwrites the lower triangle of a symmetric matrix with its Cholesky factor and zeroes the upper one;
    /// false when a diagonal block is not positive definite (the matrix is then partly overwritten).</summary>
    private static bool BlockedCholesky(Tensor a, int block)
    {
        long m = a.shape[0];
        for (long k = 0; k < m; k += block)
        {
            using var step = NewDisposeScope();
            long b = Math.Min(block, m - k);
            var akk = a.narrow(0, k, b).narrow(1, k, b);
            var (lkk, info) = linalg.cholesky_ex(akk);
            if (info.item<int>() != 0) return false;
            akk.copy_(lkk);                       // lower, its upper part zero
            long rest = m - k - b;
            if (rest == 0) break;
            a.narrow(0, k, b).narrow(1, k + b, rest).zero_(); // the upper strip (tril_ on the whole matrix copied it)
            // L21 = A21·L11⁻ᵀ, i.e. L21ᵀ = L11⁻¹A21ᵀ
            var a21 = a.narrow(0, k + b, rest).narrow(1, k, b);
            a21.copy_(linalg.solve_triangular(lkk, a21.t(), upper: false).t());
            // A22 −= L21·L21ᵀ on and below the diagonal, one block column at a time (the upper part is never read)
            for (long j = 0; j < rest; j += block)
            {
                long bj = Math.Min(block, rest - j);
                a.narrow(0, k + b + j, rest - j).narrow(1, k + b + j, bj).addmm_(a21.narrow(0, j, rest - j), a21.narrow(0, j, bj).t(), 1f, -1f);
            }
        }
        return true;
    }

    /// <summary>Whether every entry is finite, 8 MiB of rows at a time (isfinite makes float64 temporaries of its input's
    /// size: on the whole N×N factor it took 352 MiB at N = 8,000).</summary>
    private static bool AllFinite(Tensor a)
    {
        long m = a.shape[0], rows = Math.Max(1, (8L << 20) / (8 * Math.Max(1, m)));
        for (long r = 0; r < m; r += rows)
        {
            using var step = NewDisposeScope();
            if (!a.narrow(0, r, Math.Min(rows, m - r)).isfinite().all().item<bool>()) return false;
        }
        return true;
    }

    /// <summary>
    /// (L·Lᵀ)⁻¹B for the lower factor L (row-major, as <see cref="FactorInPlace"/> leaves it) by two triangular solves:
    /// L⁻¹ reads L as it is, L⁻ᵀ reads it through its transpose, so neither copies it. Why: libtorch's cholesky_solve
    /// clones the factor into column-major order first, another 488 MiB for the N×N Woodbury factor at N = 8,000, which
    /// made the OBS update the peak of a WoodFisher run.
    /// </summary>
    public static Tensor Solve(Tensor lower, Tensor b)
    {
        using var scope = NewDisposeScope();
        var y = linalg.solve_triangular(lower, b, upper: false);
        return linalg.solve_triangular(lower.t(), y, upper: true).MoveToOuterDisposeScope();
    }

    /// <summary>An upper bound of the smallest eigenvalue of L·Lᵀ (inverse iteration with the factor).</summary>
    public static double SmallestEigenvalue(Tensor lower)
    {
        using var scope = NewDisposeScope();
        var v = ones([lower.shape[0], 1], ScalarType.Float64, lower.device);
        double inverse = 0;
        for (int i = 0; i < PowerIterations; i++)
        {
            using var step = NewDisposeScope();
            var unit = v.div(v.norm());
            var next = Solve(lower, unit);
            inverse = unit.mul(next).sum().item<double>();
            v.Dispose();
            v = next.MoveToOuterDisposeScope();
        }
        return inverse > 0 ? 1 / inverse : double.PositiveInfinity;
    }

    /// <summary>A lower bound of the largest eigenvalue of a symmetric positive semi-definite matrix (power iteration from
    /// its diagonal, a start that leans towards the top eigenvector of a Gram matrix).</summary>
    public static double LargestEigenvalue(Tensor symmetric)
    {
        using var scope = NewDisposeScope();
        var diagonal = symmetric.diagonal().abs();
        var v = diagonal.add(diagonal.mean().mul(HeldScalars.Of(1e-3)), HeldScalars.One).add(HeldScalars.Of(1e-300), HeldScalars.One).unsqueeze(1);
        double rayleigh = 0;
        for (int i = 0; i < PowerIterations; i++)
        {
            using var step = NewDisposeScope();
            var norm = v.norm();
            double n = norm.item<double>();
            if (!(n > 0) || !double.IsFinite(n)) break;
            var unit = v.div(norm);
            var next = symmetric.matmul(unit);
            rayleigh = unit.mul(next).sum().item<double>();
            v.Dispose();
            v = next.MoveToOuterDisposeScope();
        }
        return rayleigh;
    }

    /// <summary>What float32 resolves in a damped Fisher block: rounding of about 2⁻²⁴ times its largest eigenvalue.
    /// The Woodbury form (which divides by λ) is refused outright below it; the direct form only when its smallest
    /// eigenvalue (computed from the factor, so only when λ is below the resolution) is.</summary>
    private sealed record Float32Limit(double Lambda, double Largest, double Resolution, string Where)
    {
        public static Float32Limit Of(Tensor system, double lambda, int n, bool woodbury, string where)
        {
            double scale = woodbury ? n : 1;
            double largest = LargestEigenvalue(system) / scale - lambda; // of F_S
            var limit = new Float32Limit(lambda, largest, Float32Resolution * largest, where);
            if (woodbury && lambda < limit.Resolution)
                throw new SurgeonException(limit.Refusal($"the Woodbury form divides by λ = {lambda.ToString("G3", CultureInfo.InvariantCulture)}"));
            return limit;
        }

        /// <summary>Refuses a direct-form block whose smallest eigenvalue float32 cannot resolve.</summary>
        public void CheckSmallest(Func<double> smallestEigenvalue)
        {
            if (Lambda >= Resolution) return;
            double smallest = smallestEigenvalue();
            if (smallest < Resolution)
                throw new SurgeonException(Refusal($"the smallest eigenvalue of λI + F is about {smallest.ToString("G2", CultureInfo.InvariantCulture)}"));
        }

        private string Refusal(string what)
        {
            var c = CultureInfo.InvariantCulture;
            return $"--lambda {Lambda.ToString("G3", c)} is below what float32 resolves in the Fisher {Where}: {what}, but its largest eigenvalue is " +
                $"{Largest.ToString("G3", c)}, so rounding alone is about {Resolution.ToString("G2", c)} and F_λ = λI + GᵀG/N is singular in float32; " +
                $"use --lambda ≥ {Resolution.ToString("G2", c)}";
        }
    }
}
