using System.Globalization;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// The Cholesky factor of a damped Fisher system, refused with a one-line <see cref="SurgeonException"/> naming --lambda
/// where the result would be meaningless. Every such system (a block of <see cref="EmpiricalFisher"/>, CBS-U's kept-set
/// systems) is c·(λI + F_S), F_S = G_SᵀG_S/N or its Woodbury twin G_SG_Sᵀ/N, with the Gram product formed in float32
/// (G's dtype) and promoted to float64. Its float32 rounding is of the order of 2⁻²³·‖F_S‖ (relative), so where λ is
/// below that the small eigenvalues of λI + F_S, and so F_λ⁻¹, are rounding noise: WoodFisher's and CBS's solves return
/// garbage (or the factorisation fails) without any sign of it. Such a λ is refused, as is a failed factorisation.
/// </summary>
public static class DampedCholesky
{
    /// <summary>float32's unit roundoff, 2⁻²³: the relative rounding of the Gram matrix.</summary>
    public const double Float32Resolution = 1.0 / (1 << 23);

    /// <summary>Power iterations for the largest eigenvalue: a lower bound that is close after a few dozen on a Gram
    /// matrix, and O(m²) each against the factorisation's m³/3.</summary>
    private const int PowerIterations = 30;

    /// <summary>
    /// The lower Cholesky factor of <paramref name="system"/> (float64, m×m), which equals <paramref name="scale"/>·(λI + F_S)
    /// (scale N for the Woodbury form NλI + GGᵀ, 1 for λI + GᵀG/N). <paramref name="where"/> names the block in messages.
    /// </summary>
    public static Tensor Factor(Tensor system, double lambda, double scale, string where)
    {
        using var scope = NewDisposeScope();
        double largest = LargestEigenvalue(system) / scale - lambda; // of F_S
        double smallest = Float32Resolution * largest;
        var c = CultureInfo.InvariantCulture;
        if (lambda < smallest)
            throw new SurgeonException(
                $"--lambda {lambda.ToString("G3", c)} is below what float32 resolves in the Fisher {where}: its largest eigenvalue is " +
                $"{largest.ToString("G3", c)}, so rounding alone is about {smallest.ToString("G2", c)} and F_λ = λI + GᵀG/N is singular in float32; " +
                $"use --lambda ≥ {smallest.ToString("G2", c)}");
        var (l, info) = linalg.cholesky_ex(system);
        if (info.max().item<int>() != 0 || !l.isfinite().all().item<bool>())
            throw new SurgeonException(
                $"the damped Fisher {where} is not positive definite in float64 (--lambda {lambda.ToString("G3", c)}); raise --lambda");
        return l.MoveToOuterDisposeScope();
    }

    /// <summary>A lower bound of the largest eigenvalue of a symmetric positive semi-definite matrix (power iteration from
    /// its diagonal, a start that leans towards the top eigenvector of a Gram matrix).</summary>
    public static double LargestEigenvalue(Tensor symmetric)
    {
        using var scope = NewDisposeScope();
        var diagonal = symmetric.diagonal().abs();
        var v = diagonal.add(diagonal.mean().mul(HeldScalars.Of(1e-3))).add(HeldScalars.Of(1e-300)).unsqueeze(1);
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
}
