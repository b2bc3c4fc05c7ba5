using Microsoft.ML.OnnxRuntime;
using Onnx;
using Surgeon.Data;
using Surgeon.Export;
using Surgeon.Export.Onnx;
using Surgeon.Models.Onnx;
using Surgeon.Quantization;
using Surgeon.Tests.Models.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Imported graphs quantised after training and written as QDQ ONNX (<see cref="OnnxGraphQdq"/>). ONNX Runtime runs the
/// file and gives the logits of Surgeon's fake-quant forward of the quantised model, with the registry QDQ tests'
/// tolerances (optimised: one 8-bit step of the logits' range; as written: relative 1e-5; weights only: 1e-4); the int8
/// weights in the file dequantise to the grid computed here by hand from the fixture's own float weights (BatchNorm
/// folded by hand from its initializers); the original node and weight names survive.
/// </summary>
public class OnnxGraphQdqTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("onnx-graph-qdq-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string> Fixtures => new(ImportFixtures.OnnxModels);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void EightBitWeightsAndActivations_RunInOnnxRuntime_AsTheFakeQuantForward(string name)
    {
        var weights = new WeightQuantizationSettings { Bits = 8, PerChannel = true };
        var activations = new ActivationQuantizationSettings { CalibrationSamples = 64, BatchSize = 16, Seed = 1 };
        AssertOnnxRuntimeAgrees(name, weights, activations);
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("lenet-bn")]
    [InlineData("dwsep")]
    public void LowBitAsymmetricPerTensorWeights_PercentileActivations_AgreeToo(string name)
    {
        var weights = new WeightQuantizationSettings { Bits = 4, Symmetric = false, Scale = ScaleMethod.Mse };
        var activations = new ActivationQuantizationSettings { CalibrationSamples = 48, BatchSize = 16, Observer = ObserverKind.Percentile, Percentile = 99.9 };
        AssertOnnxRuntimeAgrees(name, weights, activations);
    }

    /// <remarks>
    /// ONNX Runtime (1.31) fuses DequantizeLinear + MatMul (the mlp's hand-written linear layer) into MatMulNBits, whose
    /// default accuracy level 4 quantises the MatMul's input to int8 on the fly: within a step (checked by the helper),
    /// not float precision. With "session.qdq_matmulnbits_accuracy_level" = 1 (float32 compute) it is float precision again.
    /// </remarks>
    [Theory]
    [InlineData("mlp")]
    [InlineData("lenet-bn")]
    [InlineData("resnet")]
    public void WeightsOnly_AgreeToFloatPrecision(string name)
    {
        AssertOnnxRuntimeAgrees(name, new WeightQuantizationSettings { Bits = 8 }, activations: null);
        double delta = AssertOnnxRuntimeAgrees(name, new WeightQuantizationSettings { Bits = 8 }, activations: null, FloatMatMulNBits);
        Assert.True(delta <= 1e-4, $"weights-only graphs have no rounding in them at run time; Δ = {delta:E2}");
    }

    private static readonly Dictionary<string, string> FloatMatMulNBits = new() { ["session.qdq_matmulnbits_accuracy_level"] = "1" };

    [Theory]
    [InlineData("mlp", true)]
    [InlineData("mlp", false)]
    [InlineData("lenet-bn", true)]
    [InlineData("lenet-bn", false)]
    [InlineData("dwsep", true)]
    public void TheFilesWeights_AreTheHandComputedGrid_OfTheFixturesWeights_UnderTheirOriginalNames(string name, bool perChannel)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        var plan = PostTrainingQuantization.Quantize(model, new WeightQuantizationSettings { Bits = 8, PerChannel = perChannel }, null, null);
        string path = Path.Combine(dir, name + ".onnx");
        OnnxGraphQdq.Write(model, plan, path);
        var original = ImportFixtures.Proto(name).Graph;
        var written = OnnxFile.Read(path).Graph;

        // Names: every original node but the BatchNormalizations survives with its name and op; graph input and output too.
        var kept = original.Node.Where(n => n.OpType != "BatchNormalization").Select(n => (n.Name, n.OpType)).ToList();
        Assert.Equal(kept, written.Node.Where(n => n.OpType is not ("DequantizeLinear" or "QuantizeLinear")).Select(n => (n.Name, n.OpType)));
        Assert.Equal(original.Input[0].Name, written.Input[0].Name);
        Assert.Equal(original.Output[0].Name, written.Output[0].Name);
        Assert.DoesNotContain(written.Node, n => n.OpType == "BatchNormalization"); // each follows a conv it alone reads

        var initializers = original.Initializer.ToDictionary(t => t.Name);
        int layers = 0;
        foreach (var node in original.Node.Where(n => n.OpType is "Conv" or "Gemm" or "MatMul"))
        {
            layers++;
            string weightName = node.Input[1];
            var w = Values(initializers[weightName]);
            long[] dims = initializers[weightName].Dims.ToArray();
            // The output-channel axis in the file's layout: a conv's filters, a transB Gemm's rows, a MatMul's columns.
            bool columns = node.OpType == "MatMul" || node.OpType == "Gemm" && !node.Attribute.Any(a => a.Name == "transB" && a.I == 1);
            int outputs = (int)(columns ? dims[1] : dims[0]);
            int OutputOf(int i) => columns ? i % outputs : i / (w.Length / outputs);
            if (node.OpType == "Conv" && original.Node.FirstOrDefault(n => n.OpType == "BatchNormalization" && n.Input[0] == node.Output[0]) is { } bn)
            {
                // Folded by hand: s = γ / √(var + ε), w' = s·w.
                double eps = bn.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5;
                float[] gamma = Values(initializers[bn.Input[1]]), variance = Values(initializers[bn.Input[4]]);
                for (int i = 0; i < w.Length; i++)
                    w[i] = (float)(w[i] * (gamma[OutputOf(i)] / Math.Sqrt(variance[OutputOf(i)] + eps)));
            }
            // The grid by hand: symmetric 8-bit, scale max|w| / 127 per output channel (or for the tensor), code round(w / scale).
            var scales = new float[perChannel ? outputs : 1];
            for (int i = 0; i < w.Length; i++)
                scales[perChannel ? OutputOf(i) : 0] = Math.Max(scales[perChannel ? OutputOf(i) : 0], Math.Abs(w[i]));
            for (int c = 0; c < scales.Length; c++) scales[c] = (float)(scales[c] / 127.0);

            var dq = written.Node.Single(n => n.OpType == "DequantizeLinear" && n.Output[0] == weightName); // the weight keeps its name
            Assert.Contains(written.Node, n => n.Name == node.Name && n.Input[1] == weightName);
            Assert.DoesNotContain(written.Initializer, t => t.Name == weightName);
            var codes = written.Initializer.Single(t => t.Name == dq.Input[0]);
            Assert.Equal(dims, codes.Dims);
            Assert.Equal((int)TensorProto.Types.DataType.Int8, codes.DataType);
            float[] fileScales = Values(written.Initializer.Single(t => t.Name == dq.Input[1]));
            var zeroPoints = written.Initializer.Single(t => t.Name == dq.Input[2]).RawData.ToByteArray();
            Assert.All(zeroPoints, z => Assert.Equal(0, z));
            long? axis = dq.Attribute.SingleOrDefault(a => a.Name == "axis")?.I;
            Assert.Equal(perChannel ? columns ? 1 : 0 : null, axis);
            for (int c = 0; c < scales.Length; c++)
                Assert.True(Math.Abs(fileScales[c] - scales[c]) <= 1e-6 * scales[c], $"{weightName} scale {c}: file {fileScales[c]:R}, by hand {scales[c]:R}");
            var raw = codes.RawData.ToByteArray();
            int boundary = 0;
            for (int i = 0; i < w.Length; i++)
            {
                float s = scales[perChannel ? OutputOf(i) : 0];
                float ratio = w[i] / s;
                int want = (int)Math.Clamp(Math.Round(ratio, MidpointRounding.ToEven), -127, 127);
                int code = (sbyte)raw[i];
                if (code != want && Math.Abs(Math.Abs(ratio - Math.Truncate(ratio)) - 0.5) < 1e-3)
                {
                    boundary++; // the folded weight differs by float rounding on a rounding boundary
                    continue;
                }
                Assert.True(code == want, $"{weightName}[{i}]: code {code}, by hand {want} (w {w[i]:R}, scale {s:R})");
                Assert.Equal(want * s, code * fileScales[perChannel ? OutputOf(i) : 0], 1e-6f);
            }
            Assert.True(boundary <= 2, $"{boundary} codes of {weightName} differ on a rounding boundary");
        }
        Assert.True(layers >= 3);
        output.WriteLine($"{name} per-{(perChannel ? "channel" : "tensor")}: {layers} layers' codes and scales are the hand-computed grid");
    }

    [Fact]
    public void ActivationsOfFewerThanEightBits_AreRefusedInOneLine()
    {
        using var model = ImportFixtures.Load("lenet-bn");
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var plan = PostTrainingQuantization.Quantize(model, null, new ActivationQuantizationSettings { Bits = 6, CalibrationSamples = 16 }, train);
        var e = Assert.Throws<SurgeonException>(() => OnnxGraphQdq.Build(model, plan));
        Assert.StartsWith("QDQ export quantises activations per tensor to 8 bits (ONNX's int8), but conv1's input has a 6-bit grid", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private double AssertOnnxRuntimeAgrees(string name, WeightQuantizationSettings weights, ActivationQuantizationSettings? activations,
        IReadOnlyDictionary<string, string>? config = null)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        model.eval();
        var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
        var plan = PostTrainingQuantization.Quantize(model, weights, activations, train);
        string path = Path.Combine(dir, name + ".onnx");
        var result = OnnxGraphQdq.Write(model, plan, path);

        var (x, _) = test.Batch(Enumerable.Range(0, 16).ToArray());
        Tensor expected;
        using (new FakeQuantForward(model, plan))
        using (no_grad())
            expected = model.call(x);
        var (actual, shape) = OnnxRuntimeRunner.Run(path, TensorData.Floats(x), x.shape, config: config);
        var (literal, _) = OnnxRuntimeRunner.Run(path, TensorData.Floats(x), x.shape, GraphOptimizationLevel.ORT_DISABLE_ALL);
        Assert.Equal(expected.shape, shape);
        float[] want = TensorData.Floats(expected);
        float[] dense = ImportFixtures.Logits(model, x);
        double step = (want.Max() - want.Min()) / 255.0, largest = want.Max(MathF.Abs);
        double delta = want.Zip(actual, (a, b) => (double)Math.Abs(a - b)).Max();
        double literalDelta = want.Zip(literal, (a, b) => (double)Math.Abs(a - b)).Max();
        double quantisation = ImportFixtures.MaxDelta(want, dense);
        output.WriteLine($"{name}, {plan.Describe()}{(config is null ? "" : " (" + string.Join(", ", config.Select(kv => $"{kv.Key}={kv.Value}")) + ")")}: max |Δlogit| ORT vs fake-quant {delta:E2} = {delta / step:F3} steps of {step:E2}, " +
            $"{literalDelta:E2} unoptimised; quantised vs float model {quantisation:E2} ({result.Details})");
        Assert.True(step > 1e-4, "the logits are all alike: the comparison would prove nothing");
        Assert.True(quantisation > 0, "quantisation changed no logit: the comparison would not tell the float graph from the quantised one");
        Assert.True(delta <= step, $"{name}: ONNX Runtime's logits differ from the fake-quant forward's by {delta:E3} > one step {step:E3}");
        Assert.True(literalDelta <= 1e-5 * Math.Max(1, largest), $"{name}: unoptimised, ONNX Runtime's logits differ by {literalDelta:E3}");
        return delta;
    }

    private static float[] Values(TensorProto t) => TensorData.Floats(OnnxTensors.ToTensor(t, "test"));
}
