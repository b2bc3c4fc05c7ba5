using Surgeon.Data;
using Surgeon.Compression;
using Surgeon.Pruning;
using Surgeon.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

public class SynFlowTests
{
    private static bool Identical(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>
    /// On the bias-free ReLU MLP with |W| and input 1 every activation is positive, so R = 1ᵀ|W₃||W₂||W₁|1 and
    /// ∂R/∂W_l = u_l v_lᵀ with u_l = (1ᵀ|W_L|…|W_{l+1}|)ᵀ and v_l = |W_{l−1}|…|W₁|1: score_l = |W_l| ⊙ u_l v_lᵀ.
    /// </summary>
    [Fact]
    public void Scores_MatchTheClosedFormOfALinearisedMlp_AndTheWeightsComeBackExactly()
    {
        var model = ScoringFixtures.Mlp64();
        var ps = PrunableParameters.Discover(model);
        var before = PrunableParameters.Flatten(ps);
        Assert.True(before.lt(0).any().item<bool>());
        var w = ps.Select(p => p.Weight.detach().abs()).ToArray();
        var ones12 = ones(12, 1, float64);
        var v1 = ones12;
        var v2 = w[0].matmul(v1);
        var v3 = w[1].matmul(v2);
        var u3 = ones(3, 1, float64);
        var u2 = w[2].t().matmul(u3);
        var u1 = w[1].t().matmul(u2);
        var expected = cat(new[] { (w[0], u1, v1), (w[1], u2, v2), (w[2], u3, v3) }
            .Select(t => t.Item1.mul(t.Item2.matmul(t.Item3.t())).flatten()).ToList(), 0);

        var scores = ScoringFixtures.Weights(new SynFlowMeasure([12]), model, null);
        ScoringFixtures.AssertClose(expected, scores, 1e-12, "synflow");
        Assert.True(Identical(before, PrunableParameters.Flatten(ps)), "weights (and their signs) must be restored exactly");
    }

    [Fact]
    public void ConvNetWithBatchNorm_IsScoredInEvalMode_AndEveryParameterAndBufferIsRestored()
    {
        var model = ScoringFixtures.Conv64();
        var saved = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        model.train();
        var (x, y) = ScoringFixtures.Samples(3, [1, 5, 5], 3, seed: 5);
        var scores = ScoringFixtures.Filters(PruningMethods.Score("synflow"), model, [model.Group],
            ScoringData.FromTensors(x, y));
        Assert.True(model.training);
        Assert.Equal(4, scores[0].Scores.Length);
        Assert.All(scores[0].Scores, s => Assert.True(s > 0));
        foreach (var (name, value) in model.state_dict())
            Assert.True(Identical(saved[name], value), $"{name} changed");
    }

}
