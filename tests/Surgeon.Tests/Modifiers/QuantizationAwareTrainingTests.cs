using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Modifiers;
using Surgeon.Pruning;
using Surgeon.Quantization;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

/// <summary>
/// Quantisation-aware training against independent computations: one SGD step equals the step computed by hand (the
/// loss of the hand-quantised weights, its gradient applied to the float weights: the straight-through estimator);
/// masks of gradual pruning stay exact zeros; at 8 bits the QAT forward is the post-training fake-quant forward of
/// the same weights; the first training batch sets each input's range to its min and max.
/// </summary>
public class QuantizationAwareTrainingTests
{
    private static nn.Module<Tensor, Tensor> TinyMlp(int seed = 1)
    {
        manual_seed(seed);
        return ModelRegistry.Create(new ModelSpec("mlpnet", [1, 6, 6], 4, 0.5));
    }

    /// <summary>4-bit symmetric per-row min–max quantisation by hand: s = max|w_row|/7, codes round half to even in −8…7.</summary>
    private static float[] HandQuantizeRows(float[] w, long rows)
    {
        long cols = w.Length / rows;
        var q = new float[w.Length];
        for (long r = 0; r < rows; r++)
        {
            double max = 0;
            for (long c = 0; c < cols; c++) max = Math.Max(max, Math.Abs((double)w[r * cols + c]));
            float s = max == 0 ? 1f : (float)(max / 7);
            for (long c = 0; c < cols; c++)
                q[r * cols + c] = Math.Clamp(MathF.Round(w[r * cols + c] / s, MidpointRounding.ToEven), -8f, 7f) * s;
        }
        return q;
    }

    [Fact]
    public void OneSgdStep_IsTheHandStep_WithTheStraightThroughGradient()
    {
        using var model = TinyMlp();
        var train = TestModels.RandomImages(16, 1, 6, 6, 4, seed: 5);
        var before = model.named_parameters().ToDictionary(p => p.name, p => (Shape: p.parameter.shape, Values: p.parameter.detach().data<float>().ToArray()));
        var options = new TrainOptions { Epochs = 1, BatchSize = 16, LearningRate = 0.1, Momentum = 0, WeightDecay = 0, Schedule = LrSchedule.Constant };
        var qat = new QuantizationAwareTrainingModifier(new WeightQuantizationSettings { Bits = 4, PerChannel = true });
        using (var loop = new TrainingLoop(options, model, train) { Modifiers = [qat] })
            loop.Run();

        // By hand: the forward with the quantised weights as leaves; their gradient is what STE gives the float weights.
        var (x, y) = train.Batch(Enumerable.Range(0, 16).ToArray());
        var leaves = new[] { "fc1.weight", "fc2.weight", "fc3.weight" }
            .Select(n => tensor(HandQuantizeRows(before[n].Values, before[n].Shape[0]), before[n].Shape).requires_grad_(true)).ToArray();
        var h = nn.functional.relu(x.flatten(1).matmul(leaves[0].t()));
        h = nn.functional.relu(h.matmul(leaves[1].t()));
        var loss = nn.functional.cross_entropy(h.matmul(leaves[2].t()), y);
        loss.backward();
        var after = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().data<float>().ToArray());
        for (int i = 0; i < 3; i++)
        {
            string name = $"fc{i + 1}.weight";
            float[] g = leaves[i].grad!.data<float>().ToArray();
            Assert.Contains(g, v => v != 0);
            for (int j = 0; j < g.Length; j++)
                Assert.Equal(before[name].Values[j] - 0.1f * g[j], after[name][j], 5e-6f);
        }
    }

    [Fact]
    public void WithGradualPruning_TheMaskStaysZero_AndTheCheckpointPlanIsQuantised()
    {
        using var model = TinyMlp();
        var train = TestModels.RandomImages(64, 1, 6, 6, 4, seed: 6);
        var recipe = Recipe.Parse("""
            modifiers:
              - modifier: gradual-pruning
                method: mp
                final-sparsity: 0.6
                end-step: 8
                every-steps: 2
                prunable: all
              - modifier: quantization-aware
                bits: 3
                activations: 8
            """, "r.yaml");
        var options = new TrainOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Schedule = LrSchedule.Constant };
        var modifiers = recipe.CreateModifiers(options.Epochs, 4);
        var qat = modifiers.OfType<QuantizationAwareTrainingModifier>().Single();
        using var loop = new TrainingLoop(options, model, train) { Modifiers = modifiers };
        loop.Run();
        var mask = loop.Mask!;
        Assert.Equal(0.6, mask.Sparsity, 2);
        var keep = mask.Keep.data<bool>().ToArray();
        var weights = PrunableParameters.Flatten(mask.Parameters).data<float>().ToArray();
        for (int i = 0; i < keep.Length; i++)
            if (!keep[i]) Assert.Equal(0f, weights[i]);
        var plan = qat.FinalPlan(model);
        Assert.Equal(3, plan.Inputs.Count);
        var state = QuantizedCheckpoint.Store(Surgeon.Compression.CompressionState.FromMask(mask), plan, "qat");
        var back = QuantizedCheckpoint.Plan(model, state, "qat")!;
        foreach (var layer in back.Layers)
        {
            var original = model.state_dict()[layer.Name + ".weight"].data<float>().ToArray();
            for (int i = 0; i < original.Length; i++)
                if (original[i] == 0) Assert.Equal(0f, layer.Weight[i]); // pruned weights stay zero codes
        }
    }

    [Fact]
    public void EightBits_QatForwardEqualsThePtqFakeQuantForward()
    {
        using var model = TinyMlp(3);
        model.eval();
        manual_seed(7);
        var x = randn(8, 1, 6, 6);
        var qat = new QuantizationAwareTrainingModifier(new WeightQuantizationSettings { Bits = 8 });
        qat.Attach(model);
        var viaQat = model.call(x).detach().data<float>().ToArray();
        qat.Detach();
        var plan = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { Bits = 8, Scale = ScaleMethod.MinMax });
        float[] viaPtq;
        using (new FakeQuantForward(model, plan))
            viaPtq = model.call(x).detach().data<float>().ToArray();
        Assert.Equal(viaPtq, viaQat);
        var plain = model.call(x).detach().data<float>().ToArray();
        Assert.NotEqual(plain, viaQat); // the hooks did quantise
    }

    [Fact]
    public void TheFirstTrainingBatch_SetsTheInputRangeToItsMinAndMax()
    {
        using var model = TinyMlp(4);
        var qat = new QuantizationAwareTrainingModifier(new WeightQuantizationSettings { Bits = 8 }, activationBits: 8) { Momentum = 0.5 };
        qat.Attach(model);
        model.train();
        manual_seed(8);
        var x1 = randn(8, 1, 6, 6);
        var x2 = randn(8, 1, 6, 6).mul(Surgeon.Numerics.HeldScalars.Of(2.0));
        model.call(x1).Dispose();
        Assert.Equal(x1.min().item<float>(), qat.InputRanges["fc1"].Lo);
        Assert.Equal(x1.max().item<float>(), qat.InputRanges["fc1"].Hi);
        model.call(x2).Dispose();
        Assert.Equal(0.5 * x1.max().item<float>() + 0.5 * x2.max().item<float>(), qat.InputRanges["fc1"].Hi, 12);
        model.eval();
        model.call(x2.mul(Surgeon.Numerics.HeldScalars.Of(3.0))).Dispose(); // evaluation does not move the range
        Assert.Equal(0.5 * x1.max().item<float>() + 0.5 * x2.max().item<float>(), qat.InputRanges["fc1"].Hi, 12);
        qat.Detach();
    }

    [Fact]
    public void BadRecipeFields_AreOneLineErrors()
    {
        var e = Assert.Throws<SurgeonException>(() => Recipe.Parse("modifiers:\n  - modifier: quantization-aware\n    bits: 9\n", "q.yaml"));
        Assert.Contains("bits must be in 2..8, got 9", e.Message);
        e = Assert.Throws<SurgeonException>(() => Recipe.Parse("modifiers:\n  - modifier: quantization-aware\n    bits: 4\n    momentum: 1\n", "q.yaml"));
        Assert.Contains("momentum must be in [0, 1)", e.Message);
        e = Assert.Throws<SurgeonException>(() => Recipe.Parse("modifiers:\n  - modifier: quantization-aware\n    per-channel: true\n", "q.yaml"));
        Assert.Contains("needs 'bits'", e.Message);
    }
}
