using Surgeon.Models;
using Surgeon.Quantization;
using Surgeon.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Quantization;

/// <summary>
/// The prepared (folded, quantised) model and its fake-quant forward: with nothing quantised it is the model itself
/// (so the folds are right), with quantised weights and activations it is the layer-by-layer hand computation.
/// </summary>
public class PostTrainingQuantizationTests
{
    public static TheoryData<string, double> Models => new()
    {
        { "mlpnet", 0.5 }, { "vgg13", 0.125 }, { "mobilenet-v1", 0.125 }, { "resnet20", 0.25 }, { "resnet56", 0.125 },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void FloatPlan_WithEveryNormFolded_ComputesTheModelsLogits(string name, double width)
    {
        foreach (int side in new[] { 28, 32 }) // VGG-13's last norm folds into the classifier on 28×28 only
        {
            using var model = ConvModels.Create(name, [3, side, side], width);
            ConvModels.RandomiseNorms(model);
            model.eval();
            var plan = PostTrainingQuantization.Prepare(model, weights: null);
            Assert.Equal(NormFolds.Of(model).Count, plan.FoldedNorms.Count);
            manual_seed(4);
            var x = randn(4, 3, side, side);
            using var scope = NewDisposeScope();
            var expected = model.call(x);
            Tensor folded;
            using (new FakeQuantForward(model, plan))
                folded = model.call(x);
            double scale = expected.abs().max().item<float>();
            Assert.True(scale > 1e-3);
            Assert.True(folded.sub(expected).abs().max().item<float>() <= 1e-5 * Math.Max(1, scale),
                $"{name} {side}×{side}: folded forward differs by {folded.sub(expected).abs().max().item<float>():E2}");
            // Disposed, the hooks are gone: the model computes exactly what it did before.
            Assert.Equal(expected.data<float>().ToArray(), model.call(x).data<float>().ToArray());
        }
    }

    [Fact]
    public void NormFolds_AreThoseTheArchitecturesAllow()
    {
        Assert.Empty(NormFolds.Of(ConvModels.Create("mlpnet", [1, 28, 28], 1)));
        Assert.Equal([new NormFold("features.9.bn", "classifier", FoldDirection.IntoFollowingLinear)],
            NormFolds.Of(ConvModels.Create("vgg13", [1, 28, 28], 0.125)));
        Assert.Empty(NormFolds.Of(ConvModels.Create("vgg13", [1, 32, 32], 0.125)));
        var resnet = NormFolds.Of(ConvModels.Create("resnet20", [1, 28, 28], 0.25));
        Assert.Equal(1 + 9 * 2 + 2, resnet.Count); // stem, two per block, two projection shortcuts
        Assert.Contains(new NormFold("layer2.0.shortcut.bn", "layer2.0.shortcut.conv", FoldDirection.IntoPrecedingConv), resnet);
        Assert.Equal(1 + 13 * 2, NormFolds.Of(ConvModels.Create("mobilenet-v1", [1, 28, 28], 0.125)).Count);
    }

    [Theory]
    [InlineData(8, true, false)]
    [InlineData(4, false, true)]
    [InlineData(3, true, true)]
    public void MlpNet_WeightsAndActivationsQuantised_EqualsTheHandComputedChain(int bits, bool symmetric, bool perChannel)
    {
        var data = TestModels.RandomImages(60, 1, 6, 6, 3);
        manual_seed(5);
        using var model = new MLPNet(36, 3, width: 0.5); // 36 → 20 → 10 → 3
        model.eval();
        var weights = new WeightQuantizationSettings { Bits = bits, Symmetric = symmetric, PerChannel = perChannel };
        var activations = new ActivationQuantizationSettings { CalibrationSamples = 37, Seed = 2, BatchSize = 10 };
        var plan = PostTrainingQuantization.Quantize(model, weights, activations, data);

        // By hand: each layer's weight on its min-max grid, each layer's input grid from the min and max of that input
        // over the 37 calibration samples (weights quantised, inputs in float), then the chain with inputs quantised.
        var names = new[] { "fc1", "fc2", "fc3" };
        var w = names.Select(n => HandWeight(WeightedLayers.Weights(model).Single(p => p.Name == $"{n}.weight").Weight, bits, symmetric, perChannel)).ToArray();
        var (calibration, _) = data.Batch(data.RandomSubset(37, 2));
        var h = calibration.flatten(1);
        var grids = new List<(float Scale, int Zero)>();
        for (int i = 0; i < 3; i++)
        {
            float[] values = h.data<float>().ToArray();
            grids.Add(HandQuantization.Grid(values.Min(), values.Max(), 8, false));
            h = h.matmul(w[i].t());
            if (i < 2) h = h.relu();
        }
        for (int i = 0; i < 3; i++)
        {
            // Within a few float32 ulps, not bit for bit: the calibration runs batches of 10 and the hand chain one
            // matmul of 37 rows, and libtorch's blocking of a matmul (and so its rounding) depends on the shape; a
            // one-ulp difference in a layer's input max was seen (scale 0.0066585336 vs 0.0066585341).
            Assert.InRange(Math.Abs(plan.Input(names[i])!.Scales[0] - grids[i].Scale), 0, 1e-6 * grids[i].Scale);
            Assert.Equal(grids[i].Zero, plan.Input(names[i])!.ZeroPoints[0]);
            Assert.Equal(w[i].data<float>().ToArray(), plan.Layer(names[i])!.Weight);
        }

        var (x, _) = data.Batch(Enumerable.Range(0, 20).ToArray());
        var expected = x.flatten(1);
        for (int i = 0; i < 3; i++)
        {
            var (scale, zero) = grids[i];
            var quantised = expected.data<float>().Select(v => HandQuantization.FakeQuantize(v, scale, zero, 8)).ToArray();
            expected = tensor(quantised, expected.shape).matmul(w[i].t());
            if (i < 2) expected = expected.relu();
        }
        Tensor actual;
        using (new FakeQuantForward(model, plan))
            actual = model.call(x);
        Assert.True(actual.sub(expected).abs().max().item<float>() <= 1e-5f * expected.abs().max().item<float>());
    }

    [Fact]
    public void BadCalibration_IsAOneLineSurgeonException()
    {
        var data = TestModels.RandomImages(50, 1, 6, 6, 3);
        using var model = new MLPNet(36, 3, width: 0.5);
        var e = Assert.Throws<SurgeonException>(() => PostTrainingQuantization.Quantize(model, new WeightQuantizationSettings(),
            new ActivationQuantizationSettings { CalibrationSamples = 51 }, data));
        UniformQuantizerTests.AssertOneLine(e, "calibrating on 51 samples needs that many training samples, but random has 50");
        UniformQuantizerTests.AssertOneLine(Assert.Throws<SurgeonException>(() => PostTrainingQuantization.Quantize(model, null,
            new ActivationQuantizationSettings { CalibrationSamples = 0 }, data)), "the calibration needs at least 1 sample, got 0");
        UniformQuantizerTests.AssertOneLine(Assert.Throws<SurgeonException>(() => PostTrainingQuantization.Quantize(model, null,
            new ActivationQuantizationSettings(), null)), "quantising activations needs training samples to calibrate on");
    }

    [Fact]
    public void PrunedWeights_StayExactZerosThroughFoldingAndQuantisation()
    {
        using var model = ConvModels.Create("resnet20", [1, 28, 28], 0.25);
        ConvModels.RandomiseNorms(model);
        using (no_grad())
            foreach (var (_, weight) in WeightedLayers.Weights(model))
                weight.mul_(rand_like(weight).gt(tensor(0.7f)));
        foreach (int bits in new[] { 8, 3 })
        {
            var plan = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { Bits = bits, Symmetric = false, Scale = ScaleMethod.Mse });
            foreach (var (name, weight) in WeightedLayers.Weights(model))
            {
                var layer = plan.Layer(name[..^".weight".Length])!;
                float[] original = weight.data<float>().ToArray();
                for (int i = 0; i < original.Length; i++)
                    if (original[i] == 0)
                    {
                        Assert.Equal(0f, layer.Weight[i]);
                        long zero = layer.Quantization!.ZeroPoints[layer.Quantization.Axis is null ? 0 : i / (original.Length / (int)layer.Shape[0])];
                        Assert.Equal(zero, layer.Codes![i]);
                    }
            }
        }
    }

    /// <summary>A weight on its min–max grid, computed element by element.</summary>
    private static Tensor HandWeight(Tensor weight, int bits, bool symmetric, bool perChannel)
    {
        float[] v = weight.data<float>().ToArray();
        int rows = perChannel ? (int)weight.shape[0] : 1, width = v.Length / rows;
        var result = new float[v.Length];
        for (int r = 0; r < rows; r++)
        {
            var row = v.AsSpan(r * width, width).ToArray();
            var (scale, zero) = HandQuantization.Grid(row.Min(), row.Max(), bits, symmetric);
            for (int i = 0; i < width; i++)
                result[r * width + i] = HandQuantization.FakeQuantize(row[i], scale, zero, bits);
        }
        return tensor(result, weight.shape);
    }
}
