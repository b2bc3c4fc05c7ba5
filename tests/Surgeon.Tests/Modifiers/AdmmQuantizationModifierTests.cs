using Surgeon.Compression;
using Surgeon.Modifiers;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

public class AdmmQuantizationModifierTests
{
    private static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).cpu().flatten().data<double>().ToArray();

    [Theory]
    [InlineData(4, 3)]
    [InlineData(8, 2)]
    public void AfterAdmmQuantisation_EveryWeightIsOnItsGrid_AndEveryPrunedWeightIsZero(int bits, int retrainEpochs)
    {
        var data = TestModels.RandomImages(96, 1, 4, 4, 3, seed: 31);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 11);
        var parameters = PrunableParameters.Discover(model);
        using (PruningMethods.Get("mp").Prune(new PruningContext { Model = model, Parameters = parameters }, 0.6)) { }
        using var pruned = PrunableParameters.Flatten(parameters).eq(Surgeon.Numerics.HeldScalars.Of(0));
        int rounds = 3;
        var recipe = Recipe.Parse($"modifiers:\n  - modifier: admm-quant\n    bits: {bits}\n    rho: 0.5\n    rho-growth: 1.5\n    rounds: {rounds}\n    prunable: all\n", "q.yaml");
        int epochs = rounds + retrainEpochs;
        var options = new TrainOptions { Epochs = epochs, BatchSize = 16, LearningRate = 0.05, Momentum = 0.9, Seed = 3 };
        using var loop = new TrainingLoop(options, model, data) { Modifiers = recipe.CreateModifiers(epochs, 6) };
        loop.Run();
        var q = (AdmmQuantizationModifier)loop.Modifiers[0];
        Assert.True(q.HardQuantized);
        Assert.Equal(rounds, q.History.Count);
        var flatPruned = pruned.data<bool>().ToArray();
        long offset = 0, kept = 0;
        foreach (var p in parameters)
        {
            var grid = q.Grids[p.Name];
            Assert.Equal(bits, grid.Bits);
            Assert.Equal(0, grid.Axis); // one grid per output row
            var w = Values(p.Weight);
            long perRow = p.Count / p.Shape[0];
            for (int e = 0; e < w.Length; e++)
            {
                double scale = grid.Scales[e / perRow];
                double code = w[e] / scale;
                // On the grid: an integer code within the signed b-bit range (float32 rounding allows a tiny slack).
                Assert.True(Math.Abs(code - Math.Round(code)) < 1e-3, $"{p.Name}[{e}] = {w[e]} is not on the grid of scale {scale}");
                Assert.InRange(Math.Round(code), grid.QMin, grid.QMax);
                if (flatPruned[offset + e]) Assert.Equal(0.0, w[e]);
                else if (w[e] != 0) kept++;
            }
            offset += p.Count;
        }
        Assert.True(kept > 0, "some kept weights should be nonzero codes");
    }

    [Fact]
    public void AdmmQuantisation_PullsTheWeightsOntoTheGrid_OverTheRounds()
    {
        var data = TestModels.RandomImages(96, 1, 4, 4, 3, seed: 32);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 12);
        // From a trained net, as ADMM quantisation is used (from scratch the loss's pull dominates the first rounds).
        TrainingLoop.Train(new TrainOptions { Epochs = 8, BatchSize = 16, LearningRate = 0.05, Seed = 4 }, model, data);
        var recipe = Recipe.Parse("modifiers:\n  - modifier: admm-quant\n    bits: 3\n    rho: 10\n    rho-growth: 1.2\n    rounds: 6\n    interval-epochs: 2\n    prunable: all\n", "q.yaml");
        var options = new TrainOptions { Epochs = 12, BatchSize = 16, LearningRate = 0.05, Seed = 4 };
        using var loop = new TrainingLoop(options, model, data) { Modifiers = recipe.CreateModifiers(12, 6) };
        loop.Run();
        var r = ((AdmmQuantizationModifier)loop.Modifiers[0]).History.Select(h => h.Residual).ToList();
        string all = string.Join(", ", r.Select(x => x.ToString("G3")));
        Assert.True(r[^1] < 0.3 * r[0], $"‖W − Z‖ should fall: {all}");
    }

    [Theory]
    [InlineData("bits: 9", "q.yaml line 3: admm-quant: bits: weight bits must be in 2..8, got 9")]
    [InlineData("bits: 8\n    rho: 0", "q.yaml line 4: admm-quant: rho: ADMM's penalty ρ must be positive")]
    [InlineData("bits: 8\n    scale: best", "q.yaml line 4: admm-quant: scale: 'best' is not mse or minmax")]
    public void ABadAdmmQuantRecipe_IsOneLine(string fields, string message)
    {
        var e = Assert.Throws<SurgeonException>(() => Recipe.Parse($"modifiers:\n  - modifier: admm-quant\n    {fields}\n", "q.yaml"));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
