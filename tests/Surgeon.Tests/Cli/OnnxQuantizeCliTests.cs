using Onnx;
using Surgeon.Data;
using Surgeon.Export;
using Surgeon.Models.Onnx;
using Surgeon.Quantization;
using Surgeon.Tests.Export;
using Surgeon.Tests.Models.Onnx;
using static TorchSharp.torch;

namespace Surgeon.Tests.Cli;

/// <summary>
/// <c>surgeon quantize --onnx m.onnx … --out q.onnx</c> (after <c>prune --onnx</c> or not): a QDQ ONNX file that ONNX Runtime
/// runs as the quantised model computed here in-process from the same file, data and settings; pruned weights stay zero
/// codes; bad input is one line, before any work, nothing written. And the library's <c>CompressionSession</c> exports an
/// imported, quantised graph.
/// </summary>
public class OnnxQuantizeCliTests() : OnnxCliFolder("onnx-quantize-cli-")
{
    [Fact]
    public void PruneThenQuantize_WritesAQdqFile_ThatOnnxRuntimeRunsAsTheQuantisedModel_WithThePrunedWeightsZeroCodes()
    {
        string data = Data(), pruned = Path.Combine(Dir, "p.onnx"), quantised = Path.Combine(Dir, "q.onnx");
        var p = CliRunner.Run(Dir, "prune", "--onnx", ImportFixtures.Onnx("lenet-bn"), "--data", data, "--method", "lmp", "--sparsity", "0.6",
            "--out", pruned, "--quiet");
        Assert.True(p.ExitCode == 0, p.Stderr);
        var q = CliRunner.Run(Dir, "quantize", "--onnx", pruned, "--data", data, "--bits", "8", "--per-channel", "--scale", "minmax", "--activations", "8",
            "--calibrate", "64", "--seed", "4", "--out", quantised, "--quiet");
        Assert.True(q.ExitCode == 0, q.Stderr);
        Assert.Contains("p.onnx: accuracy float", q.Stdout);
        Assert.Contains("QDQ ONNX opset 13", q.Stdout);

        // The same quantisation in-process: the pruned file, the same data, settings and seed.
        using var scope = NewDisposeScope();
        using var model = new OnnxGraphModel(OnnxFile.Read(pruned), "p.onnx");
        var (train, test) = DatasetCatalog.Load(data);
        var plan = PostTrainingQuantization.Quantize(model, new WeightQuantizationSettings { Bits = 8, PerChannel = true },
            new ActivationQuantizationSettings { Bits = 8, CalibrationSamples = 64, Seed = 4 }, train);
        model.eval();
        var (x, _) = test.Batch(Enumerable.Range(0, 16).ToArray());
        Tensor expected;
        using (new FakeQuantForward(model, plan))
        using (no_grad())
            expected = model.call(x);
        float[] want = TensorData.Floats(expected);
        var (actual, _) = OnnxRuntimeRunner.Run(quantised, TensorData.Floats(x), x.shape, Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL);
        double delta = ImportFixtures.MaxDelta(want, actual);
        Assert.True(delta <= 1e-5 * Math.Max(1, want.Max(MathF.Abs)), $"ONNX Runtime differs from the quantised model by {delta:E3}");

        // Every pruned weight (a zero of the pruned file) is code 0 in the quantised one (symmetric grids: zero point 0).
        var prunedGraph = OnnxFile.Read(pruned).Graph;
        var written = OnnxFile.Read(quantised).Graph;
        foreach (var conv in prunedGraph.Node.Where(n => n.OpType == "Conv"))
        {
            var weights = TensorData.Floats(OnnxTensors.ToTensor(prunedGraph.Initializer.Single(t => t.Name == conv.Input[1]), "test"));
            var dq = written.Node.Single(n => n.OpType == "DequantizeLinear" && n.Output[0] == conv.Input[1]);
            var codes = written.Initializer.Single(t => t.Name == dq.Input[0]).RawData.ToByteArray();
            Assert.True(weights.Count(w => w == 0) >= weights.Length / 2, "lmp at 0.6 leaves most of each layer zero");
            for (int i = 0; i < weights.Length; i++)
                if (weights[i] == 0) Assert.Equal(0, (sbyte)codes[i]);
        }
    }

    [Fact]
    public void BadInputIsOneLineAndNothingIsWritten()
    {
        string output = Path.Combine(Dir, "q.onnx"), onnx = ImportFixtures.Onnx("mlp");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "quantize", "--onnx", onnx, "--checkpoint", "x.ckpt", "--bits", "8", "--out", output),
            "give --checkpoint or --onnx, not both");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "quantize", "--onnx", Path.Combine(Dir, "missing.onnx"), "--bits", "8", "--out", output),
            "missing.onnx");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "quantize", "--onnx", onnx, "--bits", "8", "--activations", "6", "--out", output),
            "--activations 8");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "quantize", "--onnx", onnx, "--bits", "9", "--out", output), "weight bits");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void CompressionSession_ExportsAnImportedQuantisedGraph_AsTheHandQuantisedWeightsCompute()
    {
        using var session = Surgeon.Api.CompressionSession.FromOnnx(ImportFixtures.Onnx("mlp"));
        session.Prune("mp", 0.5);
        session.QuantizeWeights(bits: 8, perChannel: true);
        string onnx = Path.Combine(Dir, "mlp-q.onnx");
        string details = session.ExportOnnx(onnx);
        Assert.Contains("QDQ", details);
        double accuracy = session.Evaluate().Accuracy;

        // By hand, on the graph imported anew with the session's weights: per output row, symmetric 8-bit, scale max|w|/127.
        using var copy = ImportFixtures.Load("mlp");
        copy.load_state_dict(session.Model.state_dict());
        using (no_grad())
            foreach (var (_, w) in WeightedLayers.Weights(copy))
            {
                var values = w.detach().to(ScalarType.Float64);
                var scale = values.abs().amax([1], keepdim: true).div(tensor(127.0));
                w.copy_(values.div(scale).round().mul(scale).to(ScalarType.Float32));
            }
        Assert.Equal(Surgeon.Training.Evaluator.Evaluate(copy, DatasetCatalog.LoadEmbeddedDigits().Test).Accuracy, accuracy, 3);
        // As written (ONNX Runtime's default optimisation fuses the MatMul's 8-bit weight into MatMulNBits, which by default
        // quantises the MatMul's input too: see OnnxGraphQdqTests).
        var (delta, scaleOfLogits) = OnnxRuntimeRunner.CompareLogits(copy, onnx, [1, 28, 28],
            optimization: Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL);
        Assert.True(delta <= 1e-4 * Math.Max(1, scaleOfLogits), $"the QDQ export differs from the hand-quantised weights by {delta:G3}");
    }
}
