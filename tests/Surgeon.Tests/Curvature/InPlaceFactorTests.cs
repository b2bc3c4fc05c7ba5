using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Scoring;
using Surgeon.Selection;
using Surgeon.Update;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

/// <summary>
/// The blocked in-place Cholesky factorisation (<see cref="DampedCholesky.FactorInPlace"/>, which lets WoodFisher and
/// CBS-U hold one m×m float64 matrix instead of the system and a separate factor) against LAPACK's factor and against
/// dense closed forms of WoodFisher's saliency and OBS update, with blocks small enough that every path (diagonal block,
/// panel solve, trailing update) runs several times.
/// </summary>
public class InPlaceFactorTests
{
    private static Tensor RandomSpd(int m, int seed)
    {
        manual_seed(seed);
        var a = randn([m, m + 3], ScalarType.Float64);
        return a.matmul(a.T).add_(eye(m, dtype: ScalarType.Float64));
    }

    [Theory]
    [InlineData(37, 8)]
    [InlineData(37, 1)]
    [InlineData(37, 37)]
    [InlineData(40, 10)]
    [InlineData(12, 64)]
    public void FactorInPlace_EqualsLapacksFactor_WithTheUpperTriangleZero(int m, int block)
    {
        var a = RandomSpd(m, seed: m + block);
        var expected = linalg.cholesky(a);
        var system = a.clone();
        DampedCholesky.FactorInPlace(system, 1e-3, 10, woodbury: false, "test", block);
        double err = (system - expected).abs().max().item<double>() / expected.abs().max().item<double>();
        Assert.True(err < 1e-12, $"relative difference to LAPACK {err:E2}");
        Assert.Equal(0, system.triu(1).abs().max().item<double>());
        // and it reproduces the matrix
        Assert.True((system.matmul(system.T) - a).abs().max().item<double>() < 1e-10 * a.abs().max().item<double>());
    }

    [Fact]
    public void FactorInPlace_RefusesAnIndefiniteSystem_WithTheFactorsMessage()
    {
        var a = RandomSpd(30, seed: 4);
        a[20, 20] = tensor(-5.0); // a negative pivot in the third block
        var e = Assert.Throws<SurgeonException>(() => DampedCholesky.FactorInPlace(a.clone(), 1e-3, 10, woodbury: false, "block at weights 0..29", 8));
        Assert.Contains("is not positive definite in float64", e.Message);
        Assert.Contains("raise --lambda", e.Message);
    }

    // TestModels.TinyFisherContext: MLPNet(6 inputs, 3 classes, width 0.1), 38 weights.
    private static (PruningContext Context, Tensor G) Setup(int samples)
    {
        var ctx = TestModels.TinyFisherContext(samples);
        var g = EmpiricalFisher.GradientMatrix(ctx.Model, ctx.Parameters, ctx.RequireTrainData("wf"), samples, 1, 1, CPU, Progress.NullProgress.Instance);
        return (ctx, g);
    }

    /// <summary>WoodFisher (saliency, global mask, OBS update) with the blocked factor and the row-block Gram matrix
    /// equals the dense closed form (float64 G, F_λ⁻¹ by a dense inverse) and, with float32 G as in real use, the previous
    /// code's computation written densely: identical masks, weights to 1e-6.</summary>
    [Theory]
    [InlineData(20)]   // d = 38 > N: the N×N Woodbury system, 4 blocks of 5
    [InlineData(120)]  // d ≤ N: the 38×38 direct system, 8 blocks of 5
    public void WoodFisher_WithTheBlockedFactor_EqualsTheDenseClosedForm_AndThePreviousFactor(int samples)
    {
        var (ctx, g32) = Setup(samples);
        long d = g32.shape[1];
        var blocks = new[] { new FisherBlock(0, d) };
        double lambda = ctx.Options.Lambda;
        long pruneCount = SparsityTarget.PruneCount(0.6, d);
        var w = PrunableParameters.Flatten(ctx.Parameters).to(ScalarType.Float64);

        // Dense closed form on float64 G.
        var g64 = g32.to(ScalarType.Float64);
        var inverse = linalg.inv(g64.T.matmul(g64) / samples + lambda * eye(d, dtype: ScalarType.Float64));
        var denseSaliency = w.square() / (2 * inverse.diagonal());
        var denseKeep = TopK.PruneLowest(denseSaliency, pruneCount);
        var coefficients = where(denseKeep.logical_not(), w / inverse.diagonal(), zeros_like(w));
        var denseDelta = -inverse.matmul(coefficients);

        using (var fisher = new EmpiricalFisher(g64.clone(), lambda, blocks) { FactorBlock = 5, GramRows = 3 })
        {
            var saliency = WoodFisherScore.Saliency(ctx, fisher);
            var keep = TopK.PruneLowest(saliency, pruneCount);
            Assert.True(keep.eq(denseKeep).all().item<bool>(), "the mask differs from the dense closed form's");
            var delta = ObsUpdate.Delta(ctx, fisher, keep);
            Assert.True((delta - denseDelta).abs().max().item<double>() < 1e-6);
        }

        // float32 G as in real use, against the previous code's computation written densely: the Gram matrix as one
        // float32 product promoted to float64, F_λ⁻¹ from it (Woodbury or direct) by a dense inverse, the diagonal and
        // the OBS coefficients rounded to float32 where the Fisher returned or took them in G's dtype.
        Tensor previousInverse;
        var g32as64 = g32.to(ScalarType.Float64);
        if (d > samples)
        {
            var k = g32.matmul(g32.T).to(ScalarType.Float64) + samples * lambda * eye(samples, dtype: ScalarType.Float64);
            previousInverse = (eye(d, dtype: ScalarType.Float64) - g32as64.T.matmul(linalg.inv(k)).matmul(g32as64)) / lambda;
        }
        else
        {
            previousInverse = linalg.inv(g32.T.matmul(g32).to(ScalarType.Float64) / samples + lambda * eye(d, dtype: ScalarType.Float64));
        }
        var previousDiagonal = previousInverse.diagonal().to(ScalarType.Float32).to(ScalarType.Float64);
        var previousKeep = TopK.PruneLowest(w.square() / (2 * previousDiagonal), pruneCount);
        var previousCoefficients = where(previousKeep.logical_not(), w / previousDiagonal, zeros_like(w)).to(ScalarType.Float32).to(ScalarType.Float64);
        var previousDelta = -previousInverse.matmul(previousCoefficients);

        using var blocked = new EmpiricalFisher(g32.clone(), lambda, blocks) { FactorBlock = 5, GramRows = 3 };
        var keepBlocked = TopK.PruneLowest(WoodFisherScore.Saliency(ctx, blocked), pruneCount);
        Assert.True(keepBlocked.eq(previousKeep).all().item<bool>(), "the mask differs from the previous computation's");
        var diff = (ObsUpdate.Delta(ctx, blocked, keepBlocked) - previousDelta).abs().max().item<double>();
        Assert.True(diff < 1e-6, $"max |Δw| {diff:E2}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(0)]
    public void Gram_InRowBlocks_IsTheProductToFloat32Rounding_AndSymmetric(int rows)
    {
        manual_seed(7);
        var x = randn([11, 40], ScalarType.Float32);
        var gram = EmpiricalFisher.Gram(x, rows);
        var x64 = x.to(ScalarType.Float64);
        var expected = x64.matmul(x64.T);
        Assert.True((gram - expected).abs().max().item<double>() < 1e-5 * expected.abs().max().item<double>());
        Assert.Equal(0, (gram.tril(-1) - gram.triu(1).T).abs().max().item<double>());
        // a strided view (the columns of one block of a wider G) gives the same matrix (to float32 rounding: the GEMM
        // may take another path for a strided operand)
        var wide = cat([randn([11, 5], ScalarType.Float32), x, randn([11, 3], ScalarType.Float32)], 1);
        Assert.True((EmpiricalFisher.Gram(wide.narrow(1, 5, 40), rows) - expected).abs().max().item<double>() < 1e-5 * expected.abs().max().item<double>());
    }

    /// <summary>CBS-U's kept-set solve (Woodbury and direct systems) with the blocked factor equals the dense closed form
    /// δw_U = (λI + F_UU)⁻¹F_UP w_P on float64 G.</summary>
    [Theory]
    [InlineData(20, 0.3)]  // 27 kept > N = 20: Woodbury
    [InlineData(20, 0.7)]  // 12 kept ≤ N: direct
    public void CbsUpdate_WithTheBlockedFactor_EqualsTheDenseClosedForm(int samples, double sparsity)
    {
        var (ctx, g32) = Setup(samples);
        long d = g32.shape[1];
        var g64 = g32.to(ScalarType.Float64);
        var w = PrunableParameters.Flatten(ctx.Parameters).to(ScalarType.Float64);
        var keep = TopK.PruneLowest(w.abs(), SparsityTarget.PruneCount(sparsity, d));
        using var fisher = new EmpiricalFisher(g64.clone(), ctx.Options.Lambda, [new FisherBlock(0, d)]) { FactorBlock = 3, GramRows = 4 };
        var updated = CbsUpdate.Apply(fisher, w, keep);

        var kept = keep.nonzero().flatten();
        var pruned = keep.logical_not().nonzero().flatten();
        var f = g64.T.matmul(g64) / samples;
        var fuu = f.index_select(0, kept).index_select(1, kept) + ctx.Options.Lambda * eye(kept.numel(), dtype: ScalarType.Float64);
        var fup = f.index_select(0, kept).index_select(1, pruned);
        var expected = zeros_like(w);
        expected.index_copy_(0, kept, w.index_select(0, kept) + linalg.solve(fuu, fup.matmul(w.index_select(0, pruned))));
        Assert.True((updated - expected).abs().max().item<double>() < 1e-9);
    }
}
