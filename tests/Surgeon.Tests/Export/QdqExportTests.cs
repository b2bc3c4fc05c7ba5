using Surgeon.Export;
using Surgeon.Export.Onnx;
using Surgeon.Models;
using Surgeon.Quantization;
using Surgeon.Tests.Models;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Quantised models exported as QDQ ONNX and run in ONNX Runtime. With all graph optimisations on (its QDQ rewrites and
/// int8 kernels), on every registry model the logits equal Surgeon's fake-quant forward to within one quantisation step
/// of the logits' scale (their range over the batch / 255, the step of an 8-bit grid over them); with the optimisations
/// off, ONNX Runtime runs the graph as written and the two agree to float rounding (relative 1e-5).
/// </summary>
public class QdqExportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("qdq-export-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string, int, int, double> Models => OnnxExportTests.Models;

    [Theory]
    [MemberData(nameof(Models))]
    public void EightBitWeightsAndActivations_RunInOnnxRuntime_AsTheFakeQuantForward(string name, int channels, int side, double width)
    {
        var weights = new WeightQuantizationSettings { Bits = 8, PerChannel = true };
        var activations = new ActivationQuantizationSettings { CalibrationSamples = 48, BatchSize = 16 };
        AssertOnnxRuntimeAgrees(name, channels, side, width, weights, activations);
    }

    [Theory]
    [InlineData("mlpnet", 1, 28, 1.0)]
    [InlineData("vgg13", 3, 32, 0.125)]
    [InlineData("resnet20", 1, 28, 0.25)]
    [InlineData("mobilenet-v1", 3, 32, 0.125)]
    public void LowBitWeights_PerTensorAndAsymmetric_PercentileActivations_AgreeToo(string name, int channels, int side, double width)
    {
        var weights = new WeightQuantizationSettings { Bits = 4, Symmetric = false, Scale = ScaleMethod.Mse };
        var activations = new ActivationQuantizationSettings { CalibrationSamples = 32, BatchSize = 16, Observer = ObserverKind.Percentile, Percentile = 99.9 };
        AssertOnnxRuntimeAgrees(name, channels, side, width, weights, activations);
    }

    [Theory]
    [InlineData("mlpnet", 1, 28, 1.0, 3)]
    [InlineData("resnet20", 3, 32, 0.25, 6)]
    public void WeightsOnly_AgreeToFloatPrecision(string name, int channels, int side, double width, int bits)
    {
        var weights = new WeightQuantizationSettings { Bits = bits, PerChannel = true, Scale = ScaleMethod.Mse };
        double delta = AssertOnnxRuntimeAgrees(name, channels, side, width, weights, activations: null);
        Assert.True(delta <= 1e-4, $"weights-only graphs have no rounding in them at run time; Δ = {delta:E2}");
    }

    [Fact]
    public void PrunedMlp_KeepsItsZerosAsZeroPointCodes_AndPerChannelAxis()
    {
        var spec = new ModelSpec("mlpnet", [1, 28, 28], 10);
        manual_seed(2);
        using var model = ModelRegistry.Create(spec);
        using (no_grad())
            foreach (var (_, w) in WeightedLayers.Weights(model))
                w.mul_(rand_like(w).gt(tensor(0.9f)));
        var plan = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { Bits = 4, Symmetric = false, PerChannel = true });
        var graph = OnnxExport.Build(model, spec, plan).Graph;
        Assert.DoesNotContain(graph.Initializers, t => t.Name.EndsWith(".weight", StringComparison.Ordinal)); // no float weights left
        foreach (var (wname, w) in WeightedLayers.Weights(model))
        {
            string layer = wname[..^".weight".Length];
            var codes = graph.Int8Initializers.Single(t => t.Name == $"{layer}.weight_quantized");
            var zeros = graph.Int8Initializers.Single(t => t.Name == $"{layer}.weight_zero_point").Data;
            Assert.Equal(w.shape, codes.Dims);
            float[] values = w.data<float>().ToArray();
            int perRow = values.Length / (int)w.shape[0];
            for (int i = 0; i < values.Length; i++)
                if (values[i] == 0)
                    Assert.Equal(zeros[i / perRow], codes.Data[i]); // (a small kept weight may round to the zero point too)
            var dq = graph.Nodes.Single(n => n.Name == $"{layer}.weight");
            Assert.Equal("DequantizeLinear", dq.OpType);
            Assert.Equal(0L, dq.Attributes.Single(a => a.Name == "axis").Int);
        }
    }

    [Fact]
    public void FewerThanEightBitActivations_AreRefusedByQdqExport()
    {
        var spec = new ModelSpec("mlpnet", [1, 6, 6], 3, 0.5);
        using var model = ModelRegistry.Create(spec);
        var data = TestModels.RandomImages(20, 1, 6, 6, 3);
        var plan = PostTrainingQuantization.Quantize(model, null, new ActivationQuantizationSettings { Bits = 6, CalibrationSamples = 10 }, data);
        var e = Assert.Throws<SurgeonException>(() => OnnxExport.Build(model, spec, plan));
        Assert.Equal("QDQ export quantises activations per tensor to 8 bits (ONNX's int8), but fc1's input has a 6-bit grid", e.Message);
    }

    private double AssertOnnxRuntimeAgrees(string name, int channels, int side, double width, WeightQuantizationSettings weights,
        ActivationQuantizationSettings? activations)
    {
        var spec = new ModelSpec(name, [channels, side, side], 10, width);
        manual_seed(1);
        using var model = ModelRegistry.Create(spec);
        ConvModels.RandomiseNorms(model);
        model.eval();
        var data = TestModels.RandomImages(64, channels, side, side, 10);
        var plan = PostTrainingQuantization.Quantize(model, weights, activations, data);
        string path = Path.Combine(dir, "model.onnx");
        var result = OnnxExport.Write(model, spec, path, plan);

        using var scope = NewDisposeScope();
        var (x, _) = data.Batch(Enumerable.Range(0, 8).ToArray());
        Tensor expected;
        using (new FakeQuantForward(model, plan))
        using (no_grad())
            expected = model.call(x);
        var (actual, shape) = OnnxRuntimeRunner.Run(path, TensorData.Floats(x), x.shape);
        var (literal, _) = OnnxRuntimeRunner.Run(path, TensorData.Floats(x), x.shape, Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL);
        Assert.Equal(expected.shape, shape);
        float[] want = TensorData.Floats(expected);
        double step = (want.Max() - want.Min()) / 255.0, largest = want.Max(MathF.Abs);
        double delta = want.Zip(actual, (a, b) => (double)Math.Abs(a - b)).Max();
        double literalDelta = want.Zip(literal, (a, b) => (double)Math.Abs(a - b)).Max();
        output.WriteLine($"{name} {spec.InputShapeText} w{width}, {plan.Describe()}: max |Δlogit| = {delta:E2} = {delta / step:F3} steps of {step:E2}, " +
            $"{literalDelta:E2} unoptimised ({result.Details})");
        Assert.True(step > 1e-4, "the logits are all alike: the comparison would prove nothing");
        Assert.True(delta <= step, $"{name}: ONNX Runtime's logits differ from the fake-quant forward's by {delta:E3} > one step {step:E3}");
        Assert.True(literalDelta <= 1e-5 * Math.Max(1, largest), $"{name}: unoptimised, ONNX Runtime's logits differ by {literalDelta:E3}");
        return delta;
    }
}
