using System.Text.RegularExpressions;
using Surgeon.Models.Onnx;
using Surgeon.Tests.Models.Onnx;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Cli;

/// <summary>
/// <c>surgeon prune --onnx m.onnx --schedule gradual</c>: the training loop takes the imported graph as it takes a
/// registry model. Checked against the registry path: the same MLPNet weights as a checkpoint and as the ONNX file
/// 'export' writes of it, pruned gradually with the same seed and schedule, give the same model (ONNX Runtime on the
/// written file against the checkpoint's TorchSharp model).
/// </summary>
public partial class OnnxGradualCliTests() : OnnxCliFolder("onnx-gradual-")
{
    [Fact]
    public void GradualPruningOfTheExportedGraphEqualsGradualPruningOfTheCheckpoint()
    {
        string data = Path.Combine(Dir, "data"), ckpt = Path.Combine(Dir, "m.ckpt"), onnx = Path.Combine(Dir, "m.onnx");
        CliCheckpointFixture.WriteIdxFolder(data, side: 28, train: 120, test: 40);
        var r = CliRunner.Run(Dir, "import", "--format", "pytorch", "-i", ImportFixtures.PathOf("mlpnet.pt"), "--model", "mlpnet", "-o", ckpt);
        Assert.True(r.ExitCode == 0, r.Stderr);
        r = CliRunner.Run(Dir, "export", "--format", "onnx", "-c", ckpt, "-o", onnx);
        Assert.True(r.ExitCode == 0, r.Stderr);

        string[] schedule = ["--schedule", "gradual", "--method", "mp", "--sparsity", "0.7", "--epochs", "2", "--batch-size", "32", "--seed", "3",
            "--data", data, "--quiet"];
        string prunedCkpt = Path.Combine(Dir, "g.ckpt"), prunedOnnx = Path.Combine(Dir, "g.onnx");
        r = CliRunner.Run(Dir, ["prune", "-c", ckpt, .. schedule, "--out", prunedCkpt]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        r = CliRunner.Run(Dir, ["prune", "--onnx", onnx, .. schedule, "--out", prunedOnnx]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var reported = Reported().Match(r.Stdout);
        Assert.True(reported.Success, r.Stdout);

        using var scope = NewDisposeScope();
        var (model, _) = Checkpoint.Load(prunedCkpt);
        using var disposeModel = model;
        using var graph = new OnnxGraphModel(OnnxFile.Read(prunedOnnx), "g.onnx");
        // The same zeros: 70 % of the three layers' weights, as the checkpoint's.
        long Zeros(TorchSharp.torch.nn.Module m) => Surgeon.Compression.PrunableParameters.Discover((TorchSharp.torch.nn.Module<Tensor, Tensor>)m)
            .Sum(p => p.Weight.eq(0).sum().item<long>());
        long total = Surgeon.Compression.PrunableParameters.TotalCount(Surgeon.Compression.PrunableParameters.Discover(graph));
        Assert.Equal(Zeros(model), Zeros(graph));
        Assert.Equal((long)Math.Round(0.7 * total), Zeros(graph), tolerance: 1);

        // The same function: ONNX Runtime on the written file against the trained checkpoint.
        var x = ImportFixtures.Input();
        var (ort, _) = ImportFixtures.RunOrt(prunedOnnx, x, inputName: graph.InputName, outputName: graph.OutputName);
        double delta = ImportFixtures.MaxDelta(ort, ImportFixtures.Logits(model, x));
        Assert.True(delta <= 1e-4, $"max |Δlogit| {delta}");
        // Training moved the weights: the pruned graph is not the dense one with zeros.
        using var dense = new OnnxGraphModel(OnnxFile.Read(onnx), "m.onnx");
        double moved = ImportFixtures.MaxDelta(ImportFixtures.Logits(dense, x), ort);
        Assert.True(moved > 1e-3, $"logits moved by only {moved}");

        // The accuracy it reports is what eval --onnx finds in the file.
        var eval = CliRunner.Run(Dir, "eval", "--onnx", prunedOnnx, "--data", data);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains($"accuracy {reported.Groups[1].Value}, loss {reported.Groups[2].Value} (", eval.Stdout);
    }

    [Fact]
    public void GradualFilterPruningAndBadFilesAreOneLineAndNothingIsWritten()
    {
        string output = Path.Combine(Dir, "out.onnx"), notOnnx = Path.Combine(Dir, "notes.onnx");
        File.WriteAllText(notOnnx, "not a model\n");
        var r = CliRunner.Run(Dir, "prune", "--onnx", ImportFixtures.Onnx("resnet"), "--schedule", "gradual", "--method", "l1@filter", "--sparsity", "0.5", "--out", output);
        CliRunner.AssertCleanError(r, "@filter removes filters");
        r = CliRunner.Run(Dir, "prune", "--onnx", notOnnx, "--schedule", "gradual", "--method", "mp", "--sparsity", "0.5", "--out", output);
        CliRunner.AssertCleanError(r, "not an ONNX model");
        Assert.False(File.Exists(output));
    }

    [GeneratedRegex(@"accuracy [0-9.]+ % → ([0-9.]+ %), loss [0-9.]+ → ([0-9.]+);")]
    private static partial Regex Reported();

}
