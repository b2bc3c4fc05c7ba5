using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Quantization;
using Surgeon.Tests.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Quantization;

/// <summary>
/// A quantised model written into a checkpoint's sidecar and read back is the same model: the same folds, the same
/// grids and codes, the same activation grids and logits, for a model without norms (MLPNet) and one whose every norm
/// is folded (ResNet-20); pruned weights stay zero codes; grids that do not fit are one-line errors.
/// </summary>
public class QuantizedCheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("qckpt-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string, bool, bool> Cases => new()
    {
        { "mlpnet", false, true }, { "mlpnet", true, false }, { "resnet20", true, true }, { "resnet20", false, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void StoredAndLoaded_IsTheSameQuantisedModel(string name, bool perChannel, bool activations)
    {
        using var model = ConvModels.Create(name, [1, 28, 28], name == "mlpnet" ? 0.5 : 0.25);
        ConvModels.RandomiseNorms(model);
        model.eval();
        var train = TestModels.RandomImages(64, 1, 28, 28, 10, seed: 3);
        var weights = new WeightQuantizationSettings { Bits = 4, PerChannel = perChannel, Scale = ScaleMethod.Mse };
        var acts = activations ? new ActivationQuantizationSettings { CalibrationSamples = 32, Observer = ObserverKind.Percentile, Percentile = 99.5 } : null;
        var plan = PostTrainingQuantization.Quantize(model, weights, acts, train);
        string path = Path.Combine(dir, $"{name}.ckpt");
        var info = new CheckpointInfo
        {
            Architecture = name,
            InputShape = [1, 28, 28],
            NumClasses = 10,
            Width = name == "mlpnet" ? 0.5 : 0.25,
            Dataset = "random",
            Compression = QuantizedCheckpoint.Store(null, plan),
        };
        Checkpoint.Save(path, model, info);
        var (loaded, loadedInfo) = Checkpoint.Load(path);
        using (loaded)
        {
            var back = QuantizedCheckpoint.Plan(loaded, loadedInfo.Compression, path)!;
            Assert.Equal(plan.FoldedNorms, back.FoldedNorms);
            Assert.Equal(NormFolds.Of(model).Count, back.FoldedNorms.Count);
            Assert.Equal(plan.Layers.Count, back.Layers.Count);
            foreach (var (a, b) in plan.Layers.Zip(back.Layers))
            {
                Assert.Equal(a.Name, b.Name);
                Assert.Equal(a.Quantization!.Scales, b.Quantization!.Scales);
                Assert.Equal(a.Quantization.ZeroPoints, b.Quantization.ZeroPoints);
                Assert.Equal(a.Codes, b.Codes);
                Assert.Equal(a.Weight, b.Weight);
                Assert.Equal(a.Bias, b.Bias);
            }
            Assert.Equal(plan.Inputs.Keys.Order(), back.Inputs.Keys.Order());
            foreach (var (layer, grid) in plan.Inputs)
                Assert.Equal(grid.Scales, back.Inputs[layer].Scales);
            Assert.Equal(weights.Describe(), back.WeightSettings!.Describe());
            Assert.Equal(acts?.Describe(), back.ActivationSettings?.Describe());
            manual_seed(5);
            using var x = randn(3, 1, 28, 28);
            using var scope = NewDisposeScope();
            Tensor expected, actual;
            using (new FakeQuantForward(model, plan)) expected = model.call(x);
            using (new FakeQuantForward(loaded, back)) actual = loaded.call(x);
            Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
        }
    }

    [Fact]
    public void PrunedWeights_AreZeroCodes_AndTheMasksAreKept()
    {
        using var model = ConvModels.Create("mlpnet", [1, 28, 28], 0.5);
        var parameters = PrunableParameters.Discover(model);
        manual_seed(2);
        using var mask = new MaskSet(parameters, rand(PrunableParameters.TotalCount(parameters)).gt(Surgeon.Numerics.HeldScalars.Of(0.7)));
        mask.Apply();
        var plan = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { Bits = 3, Symmetric = false });
        var state = QuantizedCheckpoint.Store(CompressionState.FromMask(mask), plan);
        Assert.True(state.HasMasks);
        var back = QuantizedCheckpoint.Plan(model, state, "m")!;
        var original = model.state_dict();
        foreach (var layer in back.Layers)
        {
            var w = original[layer.Name + ".weight"].data<float>().ToArray();
            long zero = layer.Quantization!.ZeroPoints[0];
            for (int i = 0; i < w.Length; i++)
                if (w[i] == 0)
                {
                    Assert.Equal(zero, layer.Codes![i]);
                    Assert.Equal(0f, layer.Weight[i]);
                }
        }
    }

    [Fact]
    public void GridsThatDoNotFit_AreOneLineErrors()
    {
        using var model = ConvModels.Create("mlpnet", [1, 28, 28], 0.5);
        var plan = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { Bits = 8, PerChannel = true });
        var state = QuantizedCheckpoint.Store(null, plan);
        string first = state.Tensors.Keys.First();
        var wrong = state with { Tensors = new(state.Tensors) { [first] = state.Tensors[first] with { Quantization = state.Tensors[first].Quantization! with { Scales = [1.0, 2.0], ZeroPoints = [0, 0] } } } };
        var e = Assert.Throws<SurgeonException>(() => QuantizedCheckpoint.Plan(model, wrong, "q.ckpt"));
        Assert.Contains("does not fit", e.Message);
        var infinite = state with { Tensors = new(state.Tensors) { [first] = state.Tensors[first] with { Quantization = state.Tensors[first].Quantization! with { Scales = Enumerable.Repeat(double.PositiveInfinity, state.Tensors[first].Quantization!.Scales.Length).ToArray() } } } };
        e = Assert.Throws<SurgeonException>(() => infinite.Check(model, "q.ckpt"));
        Assert.Contains("positive and finite", e.Message);
        var missing = state with { Tensors = new(state.Tensors.Where(t => t.Key != first).ToDictionary()) };
        e = Assert.Throws<SurgeonException>(() => QuantizedCheckpoint.Plan(model, missing, "q.ckpt"));
        Assert.Contains("has no grid for", e.Message);
        e = Assert.Throws<SurgeonException>(() => QuantizedCheckpoint.RequireSameSettings(state, new WeightQuantizationSettings { Bits = 4, PerChannel = true }, null, "q.ckpt"));
        Assert.Contains("already quantised", e.Message);
        QuantizedCheckpoint.RequireSameSettings(state, new WeightQuantizationSettings { Bits = 8, PerChannel = true }, null, "q.ckpt");
    }
}
