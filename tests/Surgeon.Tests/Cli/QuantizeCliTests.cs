using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Surgeon.Data;
using Surgeon.Export.Sparse;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Cli;

/// <summary>
/// surgeon quantize end to end: the quantised checkpoint's accuracy (what quantize stores and eval prints) equals the
/// accuracy of the weights quantised by hand; export writes QDQ ONNX and b-bit codes; bad input is one line, exit 2,
/// nothing written.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class QuantizeCliTests(CliCheckpointFixture fixture)
{
    /// <summary>8-bit symmetric per-tensor min–max grids by hand (s = max|w|/127 in double, used as float32; codes
    /// rounded half to even and clamped to −128…127), put into the model's weights.</summary>
    private static void QuantizeByHand(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (!name.EndsWith(".weight", StringComparison.Ordinal)) continue;
            float[] w = p.detach().data<float>().ToArray();
            double max = w.Max(v => Math.Abs((double)v));
            float s = (float)(max / 127);
            var q = w.Select(v => Math.Clamp(MathF.Round(v / s, MidpointRounding.ToEven), -128f, 127f) * s).ToArray();
            p.copy_(tensor(q, p.shape));
        }
    }

    [Fact]
    public void Quantize_Eval_Export_AgreeWithAHandQuantisation()
    {
        string work = fixture.NewWorkFolder(), q = Path.Combine(work, "q.ckpt");
        var r = CliRunner.Run(work, "quantize", "-c", fixture.Checkpoint, "--bits", "8", "--scale", "minmax", "--out", q, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("accuracy float", r.Stdout);

        var (model, info) = Checkpoint.Load(fixture.Checkpoint);
        using (model)
        {
            QuantizeByHand(model);
            var (_, test) = DatasetCatalog.Load(info.Dataset);
            var hand = Evaluator.Evaluate(model, test);
            var (quantised, qInfo) = Checkpoint.Load(q);
            quantised.Dispose();
            Assert.Equal(hand.Accuracy, qInfo.TestAccuracy);
            Assert.Equal(hand.Loss, qInfo.TestLoss!.Value, 5);
            Assert.Equal(info.TestAccuracy!.Value.ToString("R", CultureInfo.InvariantCulture), qInfo.Notes["floatAccuracy"]);
            var e = CliRunner.Run(work, "eval", "-c", q);
            Assert.True(e.ExitCode == 0, e.Stderr);
            Assert.Contains($"(quantised) on digits (test): accuracy {hand.Accuracy:P2}", e.Stdout);
        }

        // Quantising again with the same settings is allowed (the same float weights, the same grids: the same file).
        string again = Path.Combine(work, "again.ckpt");
        r = CliRunner.Run(work, "quantize", "-c", q, "--bits", "8", "--scale", "minmax", "--out", again, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(File.ReadAllBytes(q), File.ReadAllBytes(again));

        string onnx = Path.Combine(work, "q.onnx"), sparse = Path.Combine(work, "q.sparse");
        r = CliRunner.Run(work, "export", "-f", "onnx", "-c", q, "-o", onnx);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string graph = Encoding.Latin1.GetString(File.ReadAllBytes(onnx));
        Assert.Contains("DequantizeLinear", graph);
        r = CliRunner.Run(work, "export", "-f", "sparse", "-c", q, "-o", sparse);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var contents = SparseFile.Read(sparse);
        Assert.Equal(3, contents.Quantizations.Count);
        Assert.All(contents.Quantizations.Values, g => Assert.Equal(8, g.Bits));
    }

    [Fact]
    public void ActivationsCalibrated_EvalReadsTheStoredGrids()
    {
        string work = fixture.NewWorkFolder(), q = Path.Combine(work, "q.ckpt");
        var r = CliRunner.Run(work, "quantize", "-c", fixture.Checkpoint, "--bits", "6", "--per-channel", "--asymmetric",
            "--activations", "8", "--calibrate", "300", "--observer", "percentile", "--out", q, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var (model, info) = Checkpoint.Load(q);
        model.Dispose();
        Assert.Equal(3, info.Compression!.Quantization!.Inputs.Count);
        Assert.Equal(300, info.Compression.Quantization.CalibrationSamples);
        var e = CliRunner.Run(work, "eval", "-c", q);
        Assert.True(e.ExitCode == 0, e.Stderr);
        Assert.Contains($"accuracy {info.TestAccuracy!.Value:P2}, loss {info.TestLoss!.Value:F4}", e.Stdout);
    }

    [Fact]
    public void FinetuneWithTheQatRecipe_WritesAQuantisedCheckpoint()
    {
        string work = fixture.NewWorkFolder(), q = Path.Combine(work, "qat.ckpt");
        string recipe = Path.Combine(RepoRoot(), "docs", "recipes", "qat-4bit.yaml");
        var r = CliRunner.Run(work, "finetune", "-c", fixture.Checkpoint, "--epochs", "1", "--lr", "0.01", "--train-subset", "300",
            "--recipe", recipe, "--out", q, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("quantisation-aware training: 4-bit symmetric per-channel", r.Stdout);
        var (model, info) = Checkpoint.Load(q);
        model.Dispose();
        Assert.Equal("qat", info.Compression!.Quantization!.Method);
        Assert.Equal("ema", info.Compression.Quantization.Observer);
        Assert.Equal(3, info.Compression.Tensors.Count(t => t.Value.Quantization is { Bits: 4, Axis: 0 }));
        var e = CliRunner.Run(work, "eval", "-c", q);
        Assert.True(e.ExitCode == 0, e.Stderr);
        Assert.Contains($"(quantised) on digits (test): accuracy {info.TestAccuracy!.Value:P2}, loss {info.TestLoss!.Value:F4}", e.Stdout);
        // A QAT checkpoint is quantised: post-training quantisation with other settings is refused.
        AssertOneLineError(CliRunner.Run(work, "quantize", "-c", q, "--bits", "8", "--out", Path.Combine(work, "x.ckpt"), "-q"), "is already quantised");
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Surgeon.sln"))) return dir.FullName;
        throw new InvalidOperationException("Surgeon.sln not found");
    }

    public static TheoryData<string, string[]> BadCases => new()
    {
        { "bits must be in 2..8, got 1", ["--bits", "1"] },
        { "bits must be in 2..8, got 9", ["--bits", "9"] },
        { "activation bits must be in 2..8, got 16", ["--bits", "8", "--activations", "16"] },
        { "needs that many training samples", ["--bits", "8", "--activations", "8", "--calibrate", "1000000"] },
        { "--calibrate applies to activation quantisation only", ["--bits", "8", "--calibrate", "10"] },
        { "unknown scale method 'max'", ["--bits", "8", "--scale", "max"] },
        { "unknown observer 'mean'", ["--bits", "8", "--activations", "8", "--observer", "mean"] },
    };

    [Theory]
    [MemberData(nameof(BadCases))]
    public void BadSettings_AreOneLineErrors_NothingWritten(string message, string[] settings)
    {
        string work = fixture.NewWorkFolder();
        var before = CliCheckpointFixture.Snapshot(work);
        var r = CliRunner.Run(work, ["quantize", "-c", fixture.Checkpoint, .. settings, "--out", Path.Combine(work, "q.ckpt"), "-q"]);
        AssertOneLineError(r, message);
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
    }

    [Fact]
    public void NonFiniteScale_OrOtherSettings_AreOneLineErrors_NothingWritten()
    {
        string work = fixture.NewWorkFolder(), q = Path.Combine(work, "q.ckpt");
        Assert.Equal(0, CliRunner.Run(work, "quantize", "-c", fixture.Checkpoint, "--bits", "8", "--out", q, "-q").ExitCode);

        var before = CliCheckpointFixture.Snapshot(work);
        AssertOneLineError(CliRunner.Run(work, "quantize", "-c", q, "--bits", "4", "--out", Path.Combine(work, "q4.ckpt"), "-q"), "is already quantised");
        AssertOneLineError(CliRunner.Run(work, "quantize", "-c", q, "--bits", "8", "--per-channel", "--out", Path.Combine(work, "q4.ckpt"), "-q"), "is already quantised");
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));

        foreach (string bad in new[] { "\"Infinity\"", "\"NaN\"", "0", "-1" })
        {
            string broken = Path.Combine(work, "bad.ckpt");
            File.Copy(q, broken, overwrite: true);
            var json = JsonNode.Parse(File.ReadAllText(q + ".json"))!;
            json["compression"]!["tensors"]!["fc1.weight"]!["quantization"]!["scales"]![0] = JsonNode.Parse(bad);
            File.WriteAllText(broken + ".json", json.ToJsonString());
            before = CliCheckpointFixture.Snapshot(work);
            AssertOneLineError(CliRunner.Run(work, "eval", "-c", broken), "every scale must be positive and finite");
            AssertOneLineError(CliRunner.Run(work, "export", "-f", "onnx", "-c", broken, "-o", Path.Combine(work, "x.onnx")), "every scale must be positive and finite");
            AssertOneLineError(CliRunner.Run(work, "quantize", "-c", broken, "--bits", "8", "--out", Path.Combine(work, "x.ckpt"), "-q"), "every scale must be positive and finite");
            Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
        }
    }

    private static void AssertOneLineError(CliRunner.Result r, string message)
    {
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(message, lines[0]);
    }
}
