using Surgeon.Modifiers;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Scoring;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

/// <summary>
/// Every importance measure prunes every model of the registry with filter groups, on both input shapes, while
/// training; BN scale needs BatchNorms, which the LeNets lack (a one-line error instead).
/// </summary>
public class PruneWhileTrainingMatrixTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in Surgeon.Tests.Models.ConvModels.Names)
            foreach (var measure in PruningMethods.Scores.Select(s => s.Name))
                if (!(model.StartsWith("lenet", StringComparison.Ordinal) && measure == BnScale))
                    data.Add(model, measure);
        return data;
    }

    private const string BnScale = "bn-scale";

    [Theory]
    [InlineData("lenet5")]
    [InlineData("lenet300")]
    public void BnScale_OnAModelWithoutBatchNorm_IsAOneLineError(string model)
    {
        Assert.Contains(BnScale, PruningMethods.Scores.Select(s => s.Name));
        var data = TestModels.RandomImages(8, 1, 28, 28, 3, seed: 7);
        var net = ModelRegistry.Create(new ModelSpec(model, [1, 28, 28], 3, 0.125));
        var options = new PwtOptions
        {
            Measure = BnScale,
            Schedule = new FilterPruningSchedule(0.5, Rounds: 1, StartEpoch: 0),
            ScoreSamples = 8,
            DynamicsSamples = 0,
        };
        var e = Assert.Throws<SurgeonException>(() => new PwtDriver(new TrainOptions { Epochs = 1, BatchSize = 8, Seed = 1 }, options).Run(net, data, null, new DynamicsLog()));
        Assert.Equal($"filter group '{(model == "lenet5" ? "conv1" : "fc1")}' has no BatchNorm, so it has no scale γ to score", e.Message);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MeasurePrunesModelOnGrayscaleAndColourInputs(string model, string measure)
    {
        foreach (int[] shape in new[] { new[] { 1, 28, 28 }, new[] { 3, 32, 32 } })
        {
            var data = TestModels.RandomImages(8, shape[0], shape[1], shape[2], 3, seed: 7);
            manual_seed(5);
            var net = ModelRegistry.Create(new ModelSpec(model, shape, 3, 0.125));
            long before = ((IStructuredModel)net).FilterGroups.Sum(g => (long)g.Channels);
            long parametersBefore = net.parameters().Sum(p => p.numel());
            var options = new PwtOptions
            {
                Measure = measure,
                Schedule = new FilterPruningSchedule(0.5, Rounds: 1, StartEpoch: 0),
                ScoreSamples = 8,
                DynamicsSamples = 0,
            };
            var train = new TrainOptions { Epochs = 1, BatchSize = 8, Seed = 1 };
            var log = new DynamicsLog();
            var pruned = new PwtDriver(train, options).Run(net, data, null, log);
            using var logits = pruned.call(data.Batch([0, 1]).Inputs);
            Assert.Equal([2L, 3L], logits.shape);
            Assert.True(logits.isfinite().all().item<bool>(), $"{model}/{measure} on {string.Join('x', shape)}: non-finite logits");
            Assert.True(log.Records[^1].Parameters < log.Records[0].Parameters, $"{model}/{measure}: the log says nothing was pruned");
            // Counted on the returned model itself: it has fewer filters and fewer parameters (removed filters shrink it).
            Assert.True(((IStructuredModel)pruned).FilterGroups.Sum(g => (long)g.Channels) < before, $"{model}/{measure}: no filter was removed");
            Assert.True(pruned.parameters().Sum(p => p.numel()) < parametersBefore, $"{model}/{measure}: the model did not shrink");
        }
    }
}
