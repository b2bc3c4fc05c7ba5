using Surgeon.Modifiers;
using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Training;

public class TrainingLoopTests
{
    [Fact]
    public void Training_LearnsAndIsDeterministicGivenTheSeed()
    {
        var data = TestModels.RandomImages(240, 1, 4, 4, 3);
        float[] Run()
        {
            manual_seed(11);
            var model = new MLPNet(16, 3, 0.5);
            var history = TrainingLoop.Train(new TrainOptions { Epochs = 8, BatchSize = 32, LearningRate = 0.05, Seed = 4 }, model, data, data);
            Assert.True(history[^1].TrainLoss < history[0].TrainLoss, "loss did not fall");
            Assert.True(history[^1].TestAccuracy > 0.8, $"accuracy {history[^1].TestAccuracy}");
            return PrunableParameters.Flatten(PrunableParameters.Discover(model)).data<float>().ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void AFixedMaskModifier_HoldsTheMask_SoPrunedWeightsStayZero()
    {
        var data = TestModels.RandomImages(120, 1, 4, 4, 3);
        manual_seed(2);
        var model = new MLPNet(16, 3, 0.5);
        var ctx = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model) };
        using var result = PruningMethods.Get("mp").Prune(ctx, 0.7);
        var masks = result.Mask!;
        using (var loop = new TrainingLoop(new TrainOptions { Epochs = 3, BatchSize = 16, WeightDecay = 1e-3 }, model, data) { Modifiers = [new FixedMaskModifier()], Mask = masks })
            loop.Run();
        var w = PrunableParameters.Flatten(ctx.Parameters);
        Assert.True(w.masked_select(masks.Keep.logical_not()).eq(0).all().item<bool>());
    }

    [Fact]
    public void CosineSchedule_StartsAtTheRateAndFalls()
    {
        var o = new TrainOptions { Epochs = 10, LearningRate = 0.1 };
        Assert.Equal(0.1, o.RateAt(0), 12);
        Assert.Equal(0.05, o.RateAt(5), 12);
        Assert.True(o.RateAt(9) < 0.01);
        var step = new TrainOptions { Schedule = LrSchedule.Step, LearningRate = 1, StepEpochs = 3, StepGamma = 0.5 };
        Assert.Equal(0.25, step.RateAt(7), 12);
    }

    [Fact]
    public void Augmentation_IsSeededAndChangesWhatIsLearned()
    {
        var data = TestModels.RandomImages(64, 1, 6, 6, 3);
        float[] Run(bool augment)
        {
            manual_seed(11);
            var model = new MLPNet(36, 3, 0.5);
            TrainingLoop.Train(new TrainOptions { Epochs = 2, BatchSize = 16, Seed = 4, Augment = augment, CropPadding = 2 }, model, data, null);
            return PrunableParameters.Flatten(PrunableParameters.Discover(model)).data<float>().ToArray();
        }
        var augmented = Run(true);
        Assert.Equal(augmented, Run(true));
        Assert.NotEqual(augmented, Run(false));
    }
}
