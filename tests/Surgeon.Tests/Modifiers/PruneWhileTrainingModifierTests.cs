using Surgeon.Modifiers;
using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Reports;
using Surgeon.Training;
using Xunit;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

public class PruneWhileTrainingTests
{
    private static readonly TrainOptions Train = new() { Epochs = 3, BatchSize = 32, LearningRate = 0.05, Seed = 2 };

    [Fact]
    public void FilterPruningOfAResNet_RemovesTheScheduledShare_MasksTheResidualStream_AndLogsEveryStage()
    {
        var data = TestModels.RandomImages(64, 1, 28, 28, 3, seed: 5);
        manual_seed(3);
        var model = ModelRegistry.Create(new ModelSpec("resnet20", [1, 28, 28], 3, 0.25));
        var groups = ((IStructuredModel)model).FilterGroups;
        long filters = groups.Sum(g => (long)g.Channels);
        long parameters = ModelCost.Measure(model, [1, 28, 28]).Parameters;
        var log = new DynamicsLog();
        var options = new PwtOptions
        {
            Measure = "loss-preservation",
            Schedule = new FilterPruningSchedule(0.5, Rounds: 2, StartEpoch: 1),
            ScoreSamples = 32,
            DynamicsSamples = 16,
        };
        var pruned = new PwtDriver(Train, options).Run(model, data, data, log);

        var after = ((IStructuredModel)pruned).FilterGroups;
        var zeroChannels = ZeroResidualChannels(pruned, after);
        long alive = after.Sum(g => (long)g.Channels) - zeroChannels;
        // Round 1 removes ⌊p₁·F⌋, round 2 ⌊p₂·(what is left)⌋, unless the 5 % minimum per layer blocks some.
        var schedule = options.Schedule;
        long expected = filters;
        for (int k = 1; k <= 2; k++) expected -= (long)Math.Floor(schedule.FractionAt(k) * expected + 1e-9);
        Assert.Equal(expected, alive);
        Assert.True(ModelCost.Measure(pruned, [1, 28, 28]).Parameters < parameters);
        Assert.True(zeroChannels > 0, "some residual-stream channels should have been masked");
        Assert.All(after, g => Assert.True(g.Channels >= 1));

        string[] events = log.Records.Select(r => r.Event).ToArray();
        Assert.Equal(6, events.Length); // initialisation, epoch 1, round 1, epoch 2, round 2, epoch 3
        Assert.Equal("initialisation", events[0]);
        Assert.Contains("round 1/2", events[2]);
        Assert.Contains("round 2/2", events[4]);
        Assert.All(log.Records, r => Assert.True(double.IsFinite(r.ThetaHessGrad) && r.ThetaNormSquared > 0));
        Assert.True(log.Records[^1].Parameters < log.Records[0].Parameters);
        Assert.Equal(3, log.Records[^1].Epoch);
    }

    [Fact]
    public void UnstructuredPruningOfAnMlp_ReachesTheTargetSparsity_AndPrunedWeightsStayZero()
    {
        var data = TestModels.RandomImages(64, 1, 4, 4, 3, seed: 6);
        manual_seed(4);
        var model = new MLPNet(16, 3, 0.5);
        var log = new DynamicsLog();
        var options = new PwtOptions
        {
            Measure = "magnitude",
            Structured = false,
            Schedule = new FilterPruningSchedule(0.75, Rounds: 3, StartEpoch: 0),
            ScoreSamples = 32,
            DynamicsSamples = 0,
        };
        var result = new PwtDriver(Train, options).Run(model, data, data, log);
        Assert.Same(model, result);
        var ps = PrunableParameters.Discover(result);
        long total = PrunableParameters.TotalCount(ps);
        using var flat = PrunableParameters.Flatten(ps);
        long zeros = flat.eq(0).sum().item<long>();
        Assert.InRange((double)zeros / total, 0.75 - 3.0 / total, 0.75 + 1e-9);
        Assert.Equal(total - zeros, log.Records[^1].Parameters);
        Assert.True(double.IsNaN(log.Records[^1].ThetaHessGrad)); // dynamics samples 0: size and loss only
    }

    [Fact]
    public void ThePruningRecord_CarriesTheTestLossOfTheJustPrunedModel()
    {
        // Pruned after the last epoch, so the returned model is exactly the one the pruning record describes.
        var data = TestModels.RandomImages(48, 1, 8, 8, 3, seed: 8);
        manual_seed(6);
        var model = ModelRegistry.Create(new ModelSpec("vgg13", [1, 8, 8], 3, 0.125));
        var log = new DynamicsLog();
        var options = new PwtOptions
        {
            Measure = "magnitude",
            Schedule = new FilterPruningSchedule(0.5, Rounds: 1, StartEpoch: 2),
            ScoreSamples = 16,
            DynamicsSamples = 0,
        };
        var pruned = new PwtDriver(Train with { Epochs = 2 }, options).Run(model, data, data, log);
        var record = log.Records[^1];
        Assert.StartsWith("pruned", record.Event);
        var direct = Evaluator.Evaluate(pruned, data);
        Assert.Equal(direct.Loss, record.TestLoss, 6);
        Assert.Equal(direct.Accuracy, record.TestAccuracy);
        Assert.NotEqual(log.Records[^2].TestLoss, record.TestLoss); // the epoch-2 record: before pruning
    }

    [Fact]
    public void ADriverRunTwice_StartsTheSecondRunUnpruned()
    {
        var data = TestModels.RandomImages(64, 1, 4, 4, 3, seed: 6);
        var options = new PwtOptions
        {
            Measure = "magnitude",
            Structured = false,
            Schedule = new FilterPruningSchedule(0.5, Rounds: 1, StartEpoch: 1),
            ScoreSamples = 32,
            DynamicsSamples = 0,
        };
        var driver = new PwtDriver(Train, options);
        float[] Weights(nn.Module<Tensor, Tensor> m)
        {
            using var flat = PrunableParameters.Flatten(PrunableParameters.Discover(m));
            return flat.data<float>().ToArray();
        }
        manual_seed(4);
        var first = driver.Run(new MLPNet(16, 3, 0.5), data, data, new DynamicsLog());
        manual_seed(4);
        var second = driver.Run(new MLPNet(16, 3, 0.5), data, data, new DynamicsLog());
        manual_seed(4);
        var fresh = new PwtDriver(Train, options).Run(new MLPNet(16, 3, 0.5), data, data, new DynamicsLog());
        Assert.Equal(Weights(fresh), Weights(second));
        Assert.Equal(Weights(first), Weights(second));
    }

    [Fact]
    public void FilterPruningOfAModelWithoutFilterGroups_AndUnknownMeasures_FailBeforeTraining()
    {
        var data = TestModels.RandomImages(16, 1, 4, 4, 3);
        var mlp = new MLPNet(16, 3, 0.5);
        var options = new PwtOptions { Measure = "magnitude", Schedule = new FilterPruningSchedule(0.5), ScoreSamples = 8 };
        var e = Assert.Throws<SurgeonException>(() => new PwtDriver(Train, options).Run(mlp, data, null, new DynamicsLog()));
        Assert.Contains("@global", e.Message);
        var unknown = options with { Measure = "no-such-measure" };
        Assert.Throws<SurgeonException>(() => new PwtDriver(Train, unknown).Run(mlp, data, null, new DynamicsLog()));
        var tooMany = options with { Structured = false, ScoreSamples = 17 };
        Assert.Contains("--score-samples", Assert.Throws<SurgeonException>(() => new PwtDriver(Train, tooMany).Run(mlp, data, null, new DynamicsLog())).Message);
    }

    [Fact]
    public void SameSeed_SameDynamicsAndBitIdenticalWeights()
    {
        var data = TestModels.RandomImages(32, 1, 28, 28, 3, seed: 8);
        (DynamicsLog Log, float[] Weights) Once()
        {
            manual_seed(11);
            var model = ModelRegistry.Create(new ModelSpec("resnet20", [1, 28, 28], 3, 0.125));
            var log = new DynamicsLog();
            var options = new PwtOptions
            {
                Measure = "grasp",
                Schedule = new FilterPruningSchedule(0.5, Rounds: 1, StartEpoch: 1),
                ScoreSamples = 16,
                DynamicsSamples = 8,
            };
            var pruned = new PwtDriver(Train with { Epochs = 2 }, options).Run(model, data, data, log);
            var weights = pruned.parameters().SelectMany(p => p.detach().flatten().data<float>().ToArray()).ToArray();
            return (log, weights);
        }
        var (logA, a) = Once();
        var (logB, b) = Once();
        Assert.Equal(a, b);
        Assert.Equal(logA.Records, logB.Records);
    }

    /// <summary>Channels of non-removable groups whose producers and BatchNorm γ, β are all exactly zero.</summary>
    private static long ZeroResidualChannels(nn.Module<Tensor, Tensor> model, IReadOnlyList<FilterGroup> groups)
    {
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        long count = 0;
        foreach (var g in groups.Where(g => !g.Removable))
        {
            for (long c = 0; c < g.Channels; c++)
            {
                bool zero = g.Producers.Concat(g.Norms).Concat(g.Norms.Select(FilterMasking.NormBias))
                    .All(name => parameters[name][c].abs().max().item<float>() == 0);
                if (zero) count++;
            }
        }
        return count;
    }
}
