using Surgeon.Compression;
using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Tests.Pruning;

/// <summary>Multi-stage one-shot pruning against a hand-written loop of single-stage prunes, each with fresh gradients.</summary>
public class MultiStageTests
{
    private static PruningContext Context(nn.Module<Tensor, Tensor> model, MaskSet? mask = null, int seed = 4) => new()
    {
        Model = model,
        Parameters = PrunableParameters.Discover(model),
        TrainData = TestModels.RandomImages(200, 1, 2, 3, 3, seed: 9),
        Seed = seed,
        Mask = mask,
        Options = new PruningOptions { FisherSamples = 60, Lambda = 1e-2, CbsCandidates = 3, CbsLossSamples = 100 },
    };

    [Theory]
    [InlineData((int)StageSchedule.Exponential)]
    [InlineData((int)StageSchedule.Polynomial)]
    [InlineData((int)StageSchedule.Linear)]
    public void StageCounts_GrowToExactlyK(int scheduleValue)
    {
        var schedule = (StageSchedule)scheduleValue; // an int: the schedule type is internal, xunit's methods are public
        foreach (int stages in new[] { 1, 2, 3, 5, 16 })
        {
            long previous = 0;
            for (int t = 1; t <= stages; t++)
            {
                long c = MultiStageSelection.CountAfter(t, stages, schedule, 31712, 32360);
                Assert.True(c >= previous, $"stage {t} of {stages} prunes {c} < {previous}");
                previous = c;
            }
            Assert.Equal(31712, previous);
        }
        // The schedules' first stage of 4 towards 0.98: exponential 1 − 0.02^(1/4), cubic 0.98·(1 − 0.75³), linear 0.98/4.
        double expected = schedule switch
        {
            StageSchedule.Exponential => 1 - Math.Pow(0.02, 0.25),
            StageSchedule.Polynomial => 0.98 * (1 - 0.421875),
            _ => 0.245,
        };
        Assert.Equal((long)Math.Floor(expected * 10000), MultiStageSelection.CountAfter(1, 4, schedule, 9800, 10000));
    }

    [Theory]
    [InlineData("ms3-lin:wf", "wf", (int)StageSchedule.Linear)]
    [InlineData("ms2-poly:chita", "chita", (int)StageSchedule.Polynomial)]
    [InlineData("ms2:cbs", "cbs", (int)StageSchedule.Exponential)]
    public void MultiStage_EqualsALoopOfSingleStagePrunesWithFreshGradients(string method, string single, int scheduleValue)
    {
        var schedule = (StageSchedule)scheduleValue;
        const double sparsity = 0.7;
        var ms = PruningMethods.Get(method);
        int stages = ((MultiStageSelection)ms.Selection!).Stages;
        var a = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        using var got = ms.Prune(Context(a), sparsity).Mask!;
        long d = got.Total, k = (long)Math.Floor(sparsity * d);
        Assert.Equal(k, got.PrunedCount);

        // The same by hand: each stage a new context (so a new Fisher at the current weights, on its own samples: seed
        // 4 + 7919·(t − 1)) carrying the mask so far.
        var b = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        var inner = PruningMethods.Get(single);
        MaskSet? mask = null;
        for (int t = 1; t <= stages; t++)
        {
            long count = MultiStageSelection.CountAfter(t, stages, schedule, k, d);
            var result = inner.Prune(Context(b, mask, seed: 4 + 7919 * (t - 1)), new PruneTarget((double)count / d, count));
            Assert.Equal(count, result.Mask!.PrunedCount);
            mask = result.Mask;
        }
        Assert.Equal(mask!.Keep.data<bool>().ToArray(), got.Keep.data<bool>().ToArray());
        var wa = PrunableParameters.Flatten(PrunableParameters.Discover(a));
        var wb = PrunableParameters.Flatten(PrunableParameters.Discover(b));
        // Equal up to float32 rounding (native matmuls may sum in another order from run to run).
        double diff = (wa - wb).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"the weights differ from the loop of single-stage prunes by {diff}");

        // Reusing the first stage's Fisher for every stage (one context) gives other weights: the gradients matter.
        var c = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        var shared = Context(c);
        MaskSet? sharedMask = null;
        for (int t = 1; t <= stages; t++)
        {
            long count = MultiStageSelection.CountAfter(t, stages, schedule, k, d);
            var stage = new PruningContext
            {
                Model = c,
                Parameters = shared.Parameters,
                TrainData = shared.TrainData,
                Seed = shared.Seed,
                Options = shared.Options,
                Mask = sharedMask,
            };
            foreach (var kv in shared.Cache) stage.Cache[kv.Key] = kv.Value;
            sharedMask = inner.Prune(stage, new PruneTarget((double)count / d, count)).Mask;
            foreach (var kv in stage.Cache) shared.Cache[kv.Key] = kv.Value;
        }
        var wc = PrunableParameters.Flatten(PrunableParameters.Discover(c));
        double stale = (wa - wc).abs().max().item<float>();
        Assert.True(stale > 1e-3, $"stale gradients gave the same result (max difference {stale})");
        shared.ReleaseCache();
    }

    [Theory]
    [InlineData("ms0:wf")]
    [InlineData("ms2-cubic:wf")]
    [InlineData("ms2:ms2:wf")]
    [InlineData("ms2:magnitude@filter")]
    public void BadMultiStageNames_AreOneLineErrors(string name)
    {
        var e = Assert.Throws<SurgeonException>(() => PruningMethods.Get(name));
        Assert.DoesNotContain('\n', e.Message);
    }
}
