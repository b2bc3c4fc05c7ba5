using Google.Protobuf;
using Surgeon.Models.Onnx;
using Surgeon.Tests.Models.Onnx;
using static TorchSharp.torch;

namespace Surgeon.Tests.Cli;

/// <summary>
/// <c>surgeon prune --onnx m.onnx --data … --method … --out p.onnx</c> and <c>surgeon eval --onnx</c>: the one-line path
/// for a model that arrives as an ONNX file, and its bad inputs (one error line, exit 2, nothing written).
/// </summary>
public class OnnxCliTests() : OnnxCliFolder("onnx-cli-")
{
    [Fact]
    public void PruneWritesAnOnnxFileOfTheSparsityThatOnnxRuntimeRunsAsSurgeonDoes()
    {
        string data = Data(), pruned = Path.Combine(Dir, "p.onnx");
        var r = CliRunner.Run(Dir, "prune", "--onnx", ImportFixtures.Onnx("resnet"), "--data", data, "--method", "lmp", "--sparsity", "0.5",
            "--out", pruned, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("lmp at 50.00 % sparsity on resnet.onnx", r.Stdout);

        using var scope = NewDisposeScope();
        using var model = new OnnxGraphModel(OnnxFile.Read(pruned), "p.onnx");
        var weights = Surgeon.Compression.PrunableParameters.Discover(model);
        foreach (var p in weights) // layer-wise: every layer at half its weights (rounded down)
            Assert.Equal(p.Count / 2, p.Weight.eq(0).sum().item<long>());
        var x = ImportFixtures.Input();
        var (ort, _) = ImportFixtures.RunOrt(pruned, x);
        Assert.True(ImportFixtures.MaxDelta(ort, ImportFixtures.Logits(model, x)) <= 1e-4);

        var eval = CliRunner.Run(Dir, "eval", "--onnx", pruned, "--data", data);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains("p.onnx on", eval.Stdout);
        Assert.Contains("sparsity 50.00 %", eval.Stdout);
    }

    [Fact]
    public void ANonOnnxFileIsOneLineAndNothingIsWritten()
    {
        string bad = Path.Combine(Dir, "notes.onnx"), output = Path.Combine(Dir, "out.onnx");
        File.WriteAllText(bad, "these are notes, not a model\n");
        var r = CliRunner.Run(Dir, "prune", "--onnx", bad, "--method", "mp", "--sparsity", "0.5", "--out", output);
        CliRunner.AssertCleanError(r, "not an ONNX model");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void AnUnsupportedOperatorIsOneLineNamingIt()
    {
        var proto = ImportFixtures.Proto("dwsep");
        proto.Graph.Node.First(n => n.OpType == "GlobalAveragePool").OpType = "GlobalLpPool";
        string bad = Path.Combine(Dir, "lp.onnx"), output = Path.Combine(Dir, "out.onnx");
        File.WriteAllBytes(bad, proto.ToByteArray());
        var r = CliRunner.Run(Dir, "eval", "--onnx", bad);
        CliRunner.AssertCleanError(r, "GlobalLpPool");
        r = CliRunner.Run(Dir, "prune", "--onnx", bad, "--method", "mp", "--sparsity", "0.5", "--out", output);
        CliRunner.AssertCleanError(r, "GlobalLpPool");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void CheckpointAndOnnxTogetherOrNeitherIsOneLine()
    {
        var r = CliRunner.Run(Dir, "prune", "--method", "mp", "--sparsity", "0.5");
        CliRunner.AssertCleanError(r, "--onnx");
        r = CliRunner.Run(Dir, "prune", "--onnx", ImportFixtures.Onnx("mlp"), "-c", "x.ckpt", "--method", "mp", "--sparsity", "0.5");
        CliRunner.AssertCleanError(r, "not both");
    }

    [Fact]
    public void ADatasetOfAnotherShapeIsOneLine()
    {
        string data = Path.Combine(Dir, "small");
        CliCheckpointFixture.WriteIdxFolder(data, side: 6, train: 20, test: 10);
        var r = CliRunner.Run(Dir, "eval", "--onnx", ImportFixtures.Onnx("mlp"), "--data", data);
        CliRunner.AssertCleanError(r, "1×28×28");
    }

}
