using Surgeon.Modifiers;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Scoring;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

/// <summary>Every importance measure prunes every conv model of the registry, on both input shapes, while training.</summary>
public class PruneWhileTrainingMatrixTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "vgg13", "mobilenet-v1", "resnet20", "resnet56" })
            foreach (var measure in PruningMethods.Scores.Select(s => s.Name))
                data.Add(model, measure);
        return data;
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
