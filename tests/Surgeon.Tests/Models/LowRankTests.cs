using Surgeon.Models;
using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

/// <summary>
/// Low-rank layers and truncated-SVD factorisation, checked against independent computations: the dense layer they
/// replace, and the best rank-r approximation built from the symmetric eigen-decomposition of AᵀA (its top-r
/// eigenvectors Q give A·Q·Qᵀ, its eigenvalues the squared singular values), not from an SVD.
/// </summary>
public class LowRankTests
{
    /// <summary>A·Q·Qᵀ with Q the top-<paramref name="rank"/> eigenvectors of AᵀA (float64), and the eigenvalues of AᵀA,
    /// largest first: the best rank-r approximation and the squared singular values, without an SVD.</summary>
    private static (Tensor Best, double[] SquaredSingular) ByEigen(Tensor a, long rank)
    {
        var a64 = a.to(float64);
        var (values, vectors) = linalg.eigh(a64.T.matmul(a64)); // ascending
        var q = vectors.narrow(1, vectors.shape[1] - rank, rank);
        var squared = values.data<double>().ToArray().Reverse().Select(v => Math.Max(v, 0)).ToArray();
        return (a64.matmul(q).matmul(q.T), squared);
    }

    [Fact]
    public void FullRank_ReproducesTheLinearLayer()
    {
        manual_seed(5);
        using var linear = nn.Linear(9, 6);
        using var low = LowRankLinear.FromLinear(linear, 6);
        using var x = randn(4, 9);
        using var expected = linear.call(x);
        using var actual = low.call(x);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), "full-rank factors differ from the layer");
    }

    [Fact]
    public void RankR_IsTheBestRankRApproximation_EckartYoung()
    {
        manual_seed(6);
        using var a = randn(7, 5, dtype: float64);
        const long r = 2;
        using var factors = TruncatedSvd.Factorize(a, r);
        using var product = factors.Product();
        var (best, squared) = ByEigen(a, r);
        Assert.True(product.allclose(best, rtol: 0, atol: 1e-10), "rank-2 truncation is not A·Q·Qᵀ");
        double error = linalg.norm(a.sub(product)).item<double>();
        double tail = Math.Sqrt(squared.Skip((int)r).Sum());
        Assert.Equal(tail, error, 1e-10);
        // The product has rank 2: the third eigenvalue of PᵀP is round-off next to the first.
        var (_, productSquared) = ByEigen(product, 1);
        Assert.True(productSquared[2] < 1e-12 * productSquared[0], $"σ₃² = {productSquared[2]}");
        // Singular values are the square roots of AᵀA's eigenvalues, largest first.
        var s = factors.S.data<double>().ToArray();
        Assert.Equal(Math.Sqrt(squared[0]), s[0], 1e-10);
        Assert.Equal(Math.Sqrt(squared[1]), s[1], 1e-10);
    }

    [Fact]
    public void Conv_AsFiltersTimesChannelKernel_MatchesConv2d()
    {
        ConvolutionBackend.DisableOneDnn();
        manual_seed(7);
        using var conv = nn.Conv2d(3, 5, 3, stride: 2, padding: 1);
        conv.to(float64);
        using var x = randn(2, 3, 7, 7, dtype: float64);
        using var full = LowRankConv2d.FromConv2d(conv, 5);
        Assert.True(full.call(x).allclose(conv.call(x), rtol: 0, atol: 1e-10), "full-rank factors differ from the conv");

        using var low = LowRankConv2d.FromConv2d(conv, 2);
        var (best, _) = ByEigen(conv.weight!.detach().reshape(5, 27), 2);
        using var expected = nn.functional.conv2d(x, best.reshape(5, 3, 3, 3), conv.bias!.detach(), [2, 2], [1, 1]);
        Assert.True(low.call(x).allclose(expected, rtol: 0, atol: 1e-10), "rank-2 conv differs from conv2d with the rank-2 filters");
        Assert.True(low.Weight().allclose(best.reshape(5, 3, 3, 3), rtol: 0, atol: 1e-10));
    }

    [Fact]
    public void RankForEnergy_HandExample()
    {
        using var s = tensor(new double[] { 3, 2, 1 }); // energies 9/14, 13/14, 14/14
        Assert.Equal(1, TruncatedSvd.RankForEnergy(s, 0.6));
        Assert.Equal(2, TruncatedSvd.RankForEnergy(s, 0.9));
        Assert.Equal(3, TruncatedSvd.RankForEnergy(s, 0.93));
        Assert.Equal(3, TruncatedSvd.RankForEnergy(s, 1.0));
        Assert.Equal(13.0 / 14, TruncatedSvd.EnergyKept(s, 2), 12);
        Assert.Throws<SurgeonException>(() => TruncatedSvd.RankForEnergy(s, 0));
    }

    [Fact]
    public void Factorization_ReplacesWeightsWhereSmaller_AndCountsParametersAndFlops()
    {
        var model = TestModels.TinyMlp(inputs: 12, classes: 3, width: 0.2); // 12→8→4→3, no biases
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var layers = LowRankFactorization.Apply(model, [1, 1, 12], new LowRankTarget(2, null));
        Assert.Equal(3, layers.Count);
        // 8×12: 2·20 = 40 < 96; 4×8: 2·12 = 24 < 32; 3×4: 2·7 = 14 ≥ 12 stays dense.
        Assert.Equal([true, true, false], layers.Select(l => l.Factorized));
        Assert.Equal([40L, 24L, 12L], layers.Select(l => l.FactorWeights));
        Assert.Equal([96L, 32L, 12L], layers.Select(l => l.DenseFlops));
        var after = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach());
        foreach (var l in layers)
        {
            var original = before[l.Name];
            var expected = l.Factorized ? ByEigen(original, 2).Best.to(float32) : original;
            Assert.True(after[l.Name].allclose(expected, rtol: 0, atol: 1e-5), l.Name);
        }
        var state = LowRankFactorization.Store(null, layers);
        Assert.Equal(2, state.Tensors.Count);
        Assert.All(state.Tensors.Values, t => Assert.Equal(2, t.Factorized!.Rank));
        Assert.Null(state.Problem());
    }

    [Fact]
    public void Target_NeedsExactlyOneOfRankAndEnergy()
    {
        Assert.Throws<SurgeonException>(() => new LowRankTarget(null, null).Validate());
        Assert.Throws<SurgeonException>(() => new LowRankTarget(2, 0.9).Validate());
        Assert.Throws<SurgeonException>(() => new LowRankTarget(null, 1.5).Validate());
        Assert.Throws<SurgeonException>(() => TruncatedSvd.Factorize(zeros(3, 4), 4));
    }
}
