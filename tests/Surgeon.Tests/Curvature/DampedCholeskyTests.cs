using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

/// <summary>
/// The λ check of the damped Fisher against independent computations: eigenvalues from a dense symmetric eigensolver,
/// and F_λ⁻¹v from a float64 Gram matrix solved densely (the float32 Gram the code uses is what makes a tiny λ noise).
/// </summary>
public class DampedCholeskyTests
{
    /// <summary>N×d float32 gradients whose columns span scales 1e-3 … 10 (a spread Fisher spectrum); with
    /// <paramref name="duplicateLastColumn"/> the last column repeats the one before, so F has a zero eigenvalue.</summary>
    private static Tensor Gradients(int n, int d, bool duplicateLastColumn, int seed = 1, double smallestScale = -3)
    {
        manual_seed(seed);
        var g = randn([n, d], ScalarType.Float64) * logspace(smallestScale, 1, d, dtype: ScalarType.Float64);
        if (duplicateLastColumn) g[.., d - 1] = g[.., d - 2];
        return g.to(ScalarType.Float32);
    }

    private static Tensor Gram64(Tensor g) => g.to(ScalarType.Float64).T.matmul(g.to(ScalarType.Float64)) / g.shape[0];

    [Fact]
    public void LargestAndSmallestEigenvalueEstimates_MatchADenseEigensolver()
    {
        var g = Gradients(60, 25, duplicateLastColumn: false);
        var a = Gram64(g) + 1e-4 * eye(25, dtype: ScalarType.Float64);
        var eig = linalg.eigvalsh(a);
        double min = eig.min().item<double>(), max = eig.max().item<double>();
        double largest = DampedCholesky.LargestEigenvalue(a), smallest = DampedCholesky.SmallestEigenvalue(linalg.cholesky(a));
        Assert.InRange(largest, 0.99 * max, max * (1 + 1e-12)); // a lower bound, close
        Assert.InRange(smallest, min * (1 - 1e-12), 1.01 * min);  // an upper bound, close
    }

    [Fact]
    public void WoodburyBlocks_RefuseALambdaBelowFloat32Resolution_AndAreAccurateAboveIt()
    {
        // 20 samples of 40 weights: the Woodbury form, and F has 20 zero eigenvalues.
        var g = Gradients(20, 40, duplicateLastColumn: false);
        double lambdaMax = linalg.eigvalsh(Gram64(g)).max().item<double>();
        double resolution = DampedCholesky.Float32Resolution * lambdaMax;
        using var v = randn(40, ScalarType.Float64);

        double ok = 1000 * resolution;
        using (var fisher = new EmpiricalFisher(g.clone(), ok, [new FisherBlock(0, 40)]))
        {
            var expected = linalg.solve(Gram64(g) + ok * eye(40, dtype: ScalarType.Float64), v);
            var actual = fisher.InverseTimes(v).to(ScalarType.Float64);
            Assert.True((actual - expected).norm().item<double>() < 0.05 * expected.norm().item<double>());
        }
        double tiny = resolution / 10;
        using var bad = new EmpiricalFisher(g.clone(), tiny, [new FisherBlock(0, 40)]);
        var e = Assert.Throws<SurgeonException>(() => bad.InverseTimes(v));
        Assert.Contains("is below what float32 resolves in the Fisher block at weights 0..39", e.Message);
        Assert.Contains("use --lambda ≥", e.Message);
        // The refusal is warranted: the Woodbury solve with the float32 Gram GGᵀ (as the code would form it) is noise in
        // G's row space (where F acts; the null-space part, v/λ, is exact) at that λ, and accurate at the accepted one.
        double Error(double lambda)
        {
            var g64 = g.to(ScalarType.Float64);
            var k = g.matmul(g.T).to(ScalarType.Float64) + 20 * lambda * eye(20, dtype: ScalarType.Float64);
            var woodbury = (v - g64.T.matmul(linalg.solve(k, g64.matmul(v)))) / lambda;
            var exact = linalg.solve(Gram64(g) + lambda * eye(40, dtype: ScalarType.Float64), v);
            return g64.matmul(woodbury - exact).norm().item<double>() / g64.matmul(exact).norm().item<double>();
        }
        Assert.True(Error(tiny) > 0.1 && Error(ok) < 0.01, $"row-space error at the refused λ {Error(tiny):G3}, at the accepted one {Error(ok):G3}");
    }

    [Fact]
    public void DirectBlocks_AcceptATinyLambda_WhenFIsWellConditioned_AndRefuseItWhenFIsSingular()
    {
        // 200 samples of 20 weights: the direct form. Full rank: λ adds nothing that matters, the solve is exact.
        var full = Gradients(200, 20, duplicateLastColumn: false, smallestScale: -0.5);
        using var v = randn(20, ScalarType.Float64);
        double lambdaMax = linalg.eigvalsh(Gram64(full)).max().item<double>();
        double tiny = DampedCholesky.Float32Resolution * lambdaMax / 1000;
        double sMin = linalg.eigvalsh(Gram64(full)).min().item<double>();
        Assert.True(sMin > 1e3 * DampedCholesky.Float32Resolution * lambdaMax, "the test matrix is not well conditioned");
        using (var fisher = new EmpiricalFisher(full.clone(), tiny, [new FisherBlock(0, 20)]))
        {
            var expected = linalg.solve(Gram64(full) + tiny * eye(20, dtype: ScalarType.Float64), v);
            var actual = fisher.InverseTimes(v).to(ScalarType.Float64);
            Assert.True((actual - expected).norm().item<double>() < 1e-3 * expected.norm().item<double>());
        }
        // A repeated column makes F singular: then λ is all that holds the smallest eigenvalue up, and it is below noise.
        var singular = Gradients(200, 20, duplicateLastColumn: true, smallestScale: -0.5);
        using var bad = new EmpiricalFisher(singular, tiny, [new FisherBlock(0, 20)]);
        var e = Assert.Throws<SurgeonException>(() => bad.InverseTimes(v));
        Assert.Contains("the smallest eigenvalue of λI + F is about", e.Message);
    }
}
