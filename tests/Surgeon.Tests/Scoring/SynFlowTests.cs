using Surgeon.Pruning;
using Surgeon.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

public class SynFlowTests
{
    private static bool Identical(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>Wraps a measure and records which prunable weights are zero each time it is asked to score.</summary>
    private sealed class RecordingMeasure(IImportanceMeasure inner) : IImportanceMeasure
    {
        public List<Tensor> ZeroPatterns { get; } = [];
        public string Name => inner.Name;
        public FilterAggregation Aggregation => inner.Aggregation;
        public bool NeedsData => inner.NeedsData;

        public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
            IReadOnlyList<string> parameterNames, ScoringData? data)
        {
            ZeroPatterns.Add(PrunableParameters.Flatten(PrunableParameters.Discover(model)).eq(0).DetachFromDisposeScope());
            return inner.RawScores(model, parameterNames, data);
        }
    }

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

        var scores = WeightScores.Compute(new SynFlowMeasure([12]), model, null);
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
        var scores = FilterScores.Compute(ImportanceMeasures.Create("synflow"), model, [model.Group],
            ScoringData.FromTensors(x, y));
        Assert.True(model.training);
        Assert.Equal(4, scores[0].Scores.Length);
        Assert.All(scores[0].Scores, s => Assert.True(s > 0));
        foreach (var (name, value) in model.state_dict())
            Assert.True(Identical(saved[name], value), $"{name} changed");
    }

    [Fact]
    public void IterativeDriver_ReachesTheExactSparsity_KeepsPrunedWeightsPruned_AndRestoresTheModel()
    {
        var model = ScoringFixtures.Mlp64();
        var ps = PrunableParameters.Discover(model);
        var before = PrunableParameters.Flatten(ps);
        long d = PrunableParameters.TotalCount(ps);
        var measure = new SynFlowMeasure([12]);
        var progress = new Surgeon.Progress.RecordingProgress();

        using var oneRound = IterativePruning.Run(model, measure, null, 0.8, rounds: 1);
        using var oneShot = Surgeon.Selection.ScoreSelection.KeepTop(ps, WeightScores.Compute(measure, model, null), 0.8);
        Assert.True(Identical(oneShot.Keep, oneRound.Keep), "one round is one-shot pruning");

        using var iterative = IterativePruning.Run(model, measure, null, 0.8, rounds: 5, progress);
        Assert.Equal((long)Math.Floor(0.8 * d + 1e-9), iterative.PrunedCount);
        Assert.True(Identical(before, PrunableParameters.Flatten(ps)), "the driver must restore the dense weights");
        Assert.Single(progress.Messages);

        // Re-scoring matters: the masked model's SynFlow scores differ from the dense ones, so the masks differ.
        Assert.False(Identical(iterative.Keep, oneShot.Keep));

        // Round k scores the model with the round k−1 mask applied: (1 − 0.2^((k−1)/5))·d zeros, each set inside the next.
        var recorder = new RecordingMeasure(measure);
        using var recorded = IterativePruning.Run(model, recorder, null, 0.8, rounds: 5);
        Assert.True(Identical(recorded.Keep, iterative.Keep));
        Assert.Equal(5, recorder.ZeroPatterns.Count);
        for (int k = 1; k <= 5; k++)
        {
            long expectedZeros = (long)Math.Floor((1 - Math.Pow(0.2, (k - 1) / 5.0)) * d + 1e-9);
            Assert.Equal(expectedZeros, recorder.ZeroPatterns[k - 1].sum().item<long>());
            if (k > 1)
                Assert.True(recorder.ZeroPatterns[k - 2].logical_and(recorder.ZeroPatterns[k - 1].logical_not()).any().item<bool>() == false,
                    $"a weight pruned before round {k - 1} came back");
        }
        Assert.True(recorder.ZeroPatterns[4].logical_and(recorded.Keep).any().item<bool>() == false, "final mask un-prunes a weight");
    }
}
