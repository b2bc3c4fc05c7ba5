using Surgeon.Modifiers;
using Surgeon.Compression;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Tests.Modifiers;

public class GradualPruningTests
{
    [Fact]
    public void PolynomialSchedule_FollowsTheCubicFormula_AndPrunesEveryFStepsAndAtT()
    {
        var s = new PolynomialSparsitySchedule(0.2, 0.9, Steps: 10, Every: 4);
        s.Validate();
        for (int t = 0; t <= 12; t++)
        {
            double expected = t >= 10 ? 0.9 : 0.9 + (0.2 - 0.9) * Math.Pow(1 - t / 10.0, 3);
            Assert.Equal(expected, s.SparsityAt(t), 12);
        }
        Assert.Equal([0L, 4, 8, 10], s.PruningSteps());
        Assert.Throws<SurgeonException>(() => new PolynomialSparsitySchedule(0.5, 0.3, 10, 1).Validate());
        Assert.Throws<SurgeonException>(() => new PolynomialSparsitySchedule(0, 1.0, 10, 1).Validate());
        Assert.Throws<SurgeonException>(() => new PolynomialSparsitySchedule(0, 0.5, 10, 11).Validate());
    }

    [Fact]
    public void FineTuning_KeepsPrunedWeightsExactlyZero_Through100StepsWithMomentumAndWeightDecay()
    {
        var data = TestModels.RandomImages(64, 1, 4, 4, 3, seed: 12);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 3);
        var parameters = PrunableParameters.Discover(model);
        using (PruningMethods.Get("mp").Prune(new PruningContext { Model = model, Parameters = parameters }, 0.6)) { }
        using var zerosBefore = PrunableParameters.Flatten(parameters).eq(Surgeon.Numerics.HeldScalars.Of(0));
        using var before = PrunableParameters.Flatten(parameters);
        var options = new TrainOptions { Epochs = 13, BatchSize = 8, LearningRate = 0.1, Momentum = 0.9, WeightDecay = 1e-2, Seed = 1 };
        int epochsChecked = 0;
        var driver = new GradualDriver(options)
        {
            AfterEpoch = (_, _) =>
            {
                using var flat = PrunableParameters.Flatten(parameters);
                Assert.Equal(0, flat.masked_select(zerosBefore).abs().sum().item<float>());
                epochsChecked++;
            },
        };
        using var mask = driver.Run(model, data, null);
        Assert.Equal(13, epochsChecked); // 13 × 8 = 104 optimiser steps
        using var after = PrunableParameters.Flatten(parameters);
        Assert.Equal(0, after.masked_select(zerosBefore).abs().sum().item<float>());
        Assert.True(after.masked_select(zerosBefore.logical_not()).sub(before.masked_select(zerosBefore.logical_not())).abs().max().item<float>() > 1e-3,
            "the kept weights should have trained");
        Assert.Equal(zerosBefore.sum().item<long>(), mask.PrunedCount);
    }

    [Theory]
    [InlineData("mp")]
    [InlineData("wf")]
    public void GradualPruning_ReachesTheFinalSparsity_ThroughNonDecreasingSparsities_WithExactZeros(string method)
    {
        var data = TestModels.RandomImages(64, 1, 4, 4, 3, seed: 13);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 4);
        var parameters = PrunableParameters.Discover(model);
        long d = PrunableParameters.TotalCount(parameters);
        var sparsities = new List<double>();
        var driver = new GradualDriver(new TrainOptions { Epochs = 4, BatchSize = 16, LearningRate = 0.05, Seed = 2 })
        {
            Method = PruningMethods.Get(method),
            Schedule = new PolynomialSparsitySchedule(0.1, 0.8, Steps: 12, Every: 3),
            Options = new PruningOptions { FisherSamples = 32 },
            AfterEpoch = (_, s) => sparsities.Add(s),
        };
        using var mask = driver.Run(model, data, data);
        Assert.Equal(4, sparsities.Count);
        for (int i = 1; i < sparsities.Count; i++) Assert.True(sparsities[i] >= sparsities[i - 1]);
        Assert.True(sparsities[0] < 0.8, "the first epoch should end below the final sparsity");
        // The mask is the union of every step's pruned set, so it holds at least ⌊0.8·d⌋ and at most a few more.
        Assert.InRange(mask.PrunedCount, (long)Math.Floor(0.8 * d), (long)Math.Floor(0.8 * d) + d / 20);
        using var flat = PrunableParameters.Flatten(parameters);
        Assert.Equal(0, flat.masked_select(mask.Keep.logical_not()).abs().sum().item<float>());
    }
}
