using Surgeon.Scoring;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Pruning;
using Surgeon.Selection;
using Surgeon.Update;
using static TorchSharp.torch;

namespace Surgeon.Tests.Update;

/// <summary>WoodFisher saliency and update against dense closed forms on a tiny net.</summary>
public class WoodFisherTests
{
    // TestModels.TinyFisherContext: MLPNet(6 inputs, 3 classes, width 0.1), 38 weights.
    private static (PruningContext Context, EmpiricalFisher Fisher) Setup(int samples, int blockSize = 0, double lambda = 1e-2)
    {
        var ctx = TestModels.TinyFisherContext(samples, blockSize, lambda);
        return (ctx, FisherProvider.For(ctx, "wf"));
    }

    /// <summary>F_λ as a dense float64 matrix, block-diagonal like the Fisher.</summary>
    private static Tensor DenseDamped(EmpiricalFisher f)
    {
        var g = f.G.to(ScalarType.Float64);
        var dense = zeros(f.D, f.D, ScalarType.Float64);
        foreach (var b in f.Blocks)
        {
            var gb = g.narrow(1, b.Offset, b.Length);
            dense.narrow(0, b.Offset, b.Length).narrow(1, b.Offset, b.Length).copy_(gb.T.matmul(gb) / f.N);
        }
        return dense + f.Lambda * eye(f.D, dtype: ScalarType.Float64);
    }

    [Theory]
    [InlineData(20, 0)]   // d = 38 > N: Woodbury form
    [InlineData(120, 0)]  // d ≤ N: dense Cholesky
    [InlineData(20, -1)]  // one block per layer
    public void SingleWeightObs_EqualsADenseSolve_CancelsItsWeight_AndItsIncreaseIsTheSaliency(int samples, int blockSize)
    {
        var (ctx, fisher) = Setup(samples, blockSize);
        var saliency = WoodFisherScore.Saliency(ctx, fisher);
        var fl = DenseDamped(fisher);
        var w = PrunableParameters.Flatten(ctx.Parameters).to(ScalarType.Float64);
        for (long q = 0; q < fisher.D; q++)
        {
            // Independent of EmpiricalFisher's factors: column q of F_λ⁻¹ by a dense LU solve of F_λ c = e_q, and the
            // single-weight OBS update δw = −(w_q / [F_λ⁻¹]_qq) F_λ⁻¹e_q from it.
            var eq = zeros(fisher.D, ScalarType.Float64);
            eq[q] = tensor(1.0);
            var column = linalg.solve(fl, eq);
            var expected = -(w[q] / column[q]) * column;

            // The code's OBS update when q alone is pruned: the same vector, and it cancels w_q.
            var keep = ones(fisher.D, ScalarType.Bool);
            keep[q] = tensor(false);
            var delta = ObsUpdate.Delta(ctx, fisher, keep);
            // G is float32 (as in real use) and the Fisher forms its Gram matrix in G's dtype: 1e-5 relative.
            double err = (delta - expected).norm().item<double>() / expected.norm().item<double>();
            Assert.True(err < 1e-5, $"q = {q}: relative error {err:E2} against the dense solve");
            // F_λ⁻¹ products come back in G's dtype, so the cancellation is exact to float32 rounding (~6e-8 relative).
            double wq = w[q].item<double>();
            Assert.True(Math.Abs(wq + delta[q].item<double>()) <= 1e-6 * Math.Abs(wq),
                $"q = {q}: (w + δw)_q = {wq + delta[q].item<double>():E3}, not 0 (w_q = {wq:E3})");

            // Its quadratic increase ½δwᵀF_λδw is the saliency w_q²/(2[F_λ⁻¹]_qq).
            double increase = 0.5 * expected.dot(fl.matmul(expected)).item<double>();
            Assert.Equal(increase, saliency[q].item<double>(), Math.Max(1e-12, 1e-5 * increase));
        }
    }

    [Theory]
    [InlineData(20, 0)]
    [InlineData(120, 0)]
    [InlineData(20, 7)]
    public void ObsUpdate_EqualsTheDenseFormula(int samples, int blockSize)
    {
        var (ctx, fisher) = Setup(samples, blockSize);
        var inv = linalg.inv(DenseDamped(fisher));
        var w = PrunableParameters.Flatten(ctx.Parameters).to(ScalarType.Float64);
        var keep = TopK.PruneLowest(w.abs(), 15);
        var expected = zeros_like(w);
        for (long q = 0; q < fisher.D; q++)
            if (!keep[q].item<bool>())
                expected -= (w[q] / inv[q, q]) * inv[.., q];
        var delta = ObsUpdate.Delta(ctx, fisher, keep);
        double err = (delta - expected).norm().item<double>() / expected.norm().item<double>();
        Assert.True(err < 1e-6, $"relative error {err}");
    }

    [Theory]
    [InlineData("wf-s")]
    [InlineData("wf")]
    public void Methods_PruneExactlyKWeightsToZero(string name)
    {
        var (ctx, _) = Setup(40);
        var before = PrunableParameters.Flatten(ctx.Parameters);
        using var masks = PruningMethods.Get(name).Prune(ctx, 0.5).Mask!;
        Assert.Equal(19, masks.PrunedCount);
        var after = PrunableParameters.Flatten(ctx.Parameters);
        Assert.True(after.masked_select(masks.Keep.logical_not()).eq(0).all().item<bool>());
        bool kept = after.masked_select(masks.Keep).eq(before.masked_select(masks.Keep)).all().item<bool>();
        Assert.Equal(name == "wf-s", kept); // only wf changes the kept weights
    }
}
