using Surgeon.Tests.Models.Onnx;
using static TorchSharp.torch;

namespace Surgeon.Tests.Cli;

/// <summary>
/// <c>surgeon import --onnx m.onnx --format safetensors|sparse --in F --out r.onnx</c>, the read-back of what
/// <c>export --onnx … --format safetensors|sparse</c> wrote: prune --onnx → export → import onto the original graph gives a
/// file on which ONNX Runtime computes the pruned file's logits, with the registry import's loaded/missing/unexpected/
/// mis-shaped report; the weights of another graph are one error line and nothing is written.
/// </summary>
public class OnnxWeightsReadBackCliTests() : OnnxCliFolder("onnx-readback-cli-")
{
    [Theory]
    [InlineData("mlp", "lmp", 6)] // Gemm, MatMul + Add ([in, out] weight), Gemm
    [InlineData("resnet", "mp", 32)] // convs and BatchNorms (weight, bias, mean, var)
    public void PrunedWeights_ExportedAndReadBackOntoTheOriginalGraph_GiveThePrunedFilesLogits(string name, string method, int tensors)
    {
        string pruned = Path.Combine(Dir, "p.onnx");
        var p = CliRunner.Run(Dir, "prune", "--onnx", ImportFixtures.Onnx(name), "--method", method, "--sparsity", "0.6", "--out", pruned, "--quiet");
        Assert.True(p.ExitCode == 0, p.Stderr);
        var x = ImportFixtures.Input();
        var (want, _) = ImportFixtures.RunOrt(pruned, x);
        var (dense, _) = ImportFixtures.RunOrt(ImportFixtures.Onnx(name), x);
        Assert.True(ImportFixtures.MaxDelta(want, dense) > 1e-3, "pruning changed no logit: the round trip would prove nothing");
        foreach (string format in new[] { "safetensors", "sparse" })
        {
            string weights = Path.Combine(Dir, "w." + format), back = Path.Combine(Dir, $"back-{format}.onnx");
            var e = CliRunner.Run(Dir, "export", "--onnx", pruned, "--format", format, "--out", weights);
            Assert.True(e.ExitCode == 0, e.Stderr);
            var i = CliRunner.Run(Dir, "import", "--onnx", ImportFixtures.Onnx(name), "--format", format, "--in", weights, "--out", back);
            Assert.True(i.ExitCode == 0, i.Stderr);
            Assert.Contains($"loaded {tensors} of the model's {tensors} tensors by name", i.Stdout);
            Assert.Contains("missing: none", i.Stdout);
            Assert.Contains("unexpected: none", i.Stdout);
            Assert.Contains("mis-shaped: none", i.Stdout);
            var (got, _) = ImportFixtures.RunOrt(back, x);
            Assert.Equal(0.0, ImportFixtures.MaxDelta(want, got)); // the same weights (a −0.0 comes back +0.0), the same arithmetic
        }
    }

    [Fact]
    public void TheWeightsOfAnotherGraph_AreOneLine_AndNothingIsWritten()
    {
        string output = Path.Combine(Dir, "r.onnx");
        foreach (string format in new[] { "safetensors", "sparse" })
        {
            string weights = Path.Combine(Dir, "lenet." + format);
            Assert.Equal(0, CliRunner.Run(Dir, "export", "--onnx", ImportFixtures.Onnx("lenet-bn"), "--format", format, "--out", weights).ExitCode);
            var r = CliRunner.Run(Dir, "import", "--onnx", ImportFixtures.Onnx("mlp"), "--format", format, "--in", weights, "--out", output);
            CliRunner.AssertCleanError(r, "does not fit mlp.onnx");
            Assert.Contains("give the ONNX file the weights were exported from", r.Stderr);
        }
        // A graph with a layer of another shape: mis-shaped, named.
        string resnet = Path.Combine(Dir, "resnet.safetensors");
        Assert.Equal(0, CliRunner.Run(Dir, "export", "--onnx", ImportFixtures.Onnx("resnet"), "--format", "safetensors", "--out", resnet).ExitCode);
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "import", "--onnx", ImportFixtures.Onnx("dwsep"), "--format", "safetensors", "--in", resnet, "--out", output),
            "mis-shaped");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "import", "--onnx", ImportFixtures.Onnx("mlp"), "--format", "pytorch", "--in", resnet, "--out", output),
            "not --format pytorch");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "import", "--onnx", ImportFixtures.Onnx("mlp"), "--format", "safetensors", "--in", resnet, "--model", "mlpnet", "--out", output),
            "--model describes a registry model");
        Assert.False(File.Exists(output));
    }
}
