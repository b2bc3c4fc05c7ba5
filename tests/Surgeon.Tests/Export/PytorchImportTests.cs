using Surgeon.Export;
using Surgeon.Export.Pytorch;
using Surgeon.Tests.Cli;
using Surgeon.Tests.Models.Onnx;
using Surgeon.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// State dicts PyTorch saved (scripts/make-import-fixtures.py: the registry's mlpnet and lenet5 at width 0.25, same
/// parameter names and forward) imported into registry models: the logits equal the ones PyTorch computed and stored
/// beside them, to 1e-4; a state dict of another architecture, and files that are no state dict, are one line.
/// </summary>
public class PytorchImportTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("pytorch-import-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static CheckpointInfo Spec(string architecture, double width = 1.0) =>
        new() { Architecture = architecture, InputShape = [1, 28, 28], NumClasses = 10, Width = width, Dataset = "digits" };

    [Theory]
    [InlineData("mlpnet", "mlpnet", 1.0)]
    [InlineData("lenet5-w0.25", "lenet5", 0.25)]
    public void TheStateDictLoadsWithPyTorchsLogits(string fixture, string architecture, double width)
    {
        using var scope = NewDisposeScope();
        var result = PytorchImport.Read(new ImportRequest("pytorch", ImportFixtures.PathOf(fixture + ".pt"), Spec(architecture, width)));
        using var model = result.Model;
        foreach (string line in result.Report) output.WriteLine(line);
        Assert.Equal("missing: none", result.Report[1]);
        Assert.Equal("unexpected: none", result.Report[2]);
        var surgeon = ImportFixtures.Logits(model, ImportFixtures.Input());
        var (torch, shape) = ImportFixtures.PyTorchLogits(fixture);
        Assert.Equal([4L, 10L], shape);
        Assert.True(torch.Max(MathF.Abs) > 0.01f, "the logits are all near zero: the comparison would prove nothing");
        double delta = ImportFixtures.MaxDelta(surgeon, torch);
        output.WriteLine($"{fixture}: max |Δ| to PyTorch {delta:E2}");
        Assert.True(delta <= 1e-4, $"{fixture}: PyTorch's logits differ by {delta:E3}");
    }

    [Fact]
    public void AStateDictOfAnotherArchitectureIsOneLineNamingWhatDoesNotFit()
    {
        var e = Assert.Throws<SurgeonException>(() =>
            PytorchImport.Read(new ImportRequest("pytorch", ImportFixtures.PathOf("lenet5-w0.25.pt"), Spec("mlpnet"))));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("does not fit a mlpnet", e.Message);
        // fc1 and fc2 have other shapes, fc3 is missing, the convs and every bias are unexpected.
        Assert.Contains("2 mis-shaped (fc1.weight", e.Message);
        Assert.Contains("1 missing (fc3.weight)", e.Message);
        Assert.Contains("6 unexpected (conv1.bias", e.Message);
        // The same architecture at another width: mis-shaped tensors.
        e = Assert.Throws<SurgeonException>(() =>
            PytorchImport.Read(new ImportRequest("pytorch", ImportFixtures.PathOf("lenet5-w0.25.pt"), Spec("lenet5", 0.5))));
        Assert.Contains("mis-shaped", e.Message);
    }

    [Theory]
    [InlineData("mlp.onnx")]
    [InlineData("input.npy")]
    public void AFileThatIsNoStateDictIsOneLine(string file)
    {
        var e = Assert.Throws<SurgeonException>(() => PytorchImport.ReadStateDict(ImportFixtures.PathOf(file)));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("not a PyTorch state dict", e.Message);
    }

    [Fact]
    public void ATruncatedStateDictIsOneLine()
    {
        var bytes = File.ReadAllBytes(ImportFixtures.PathOf("mlpnet.pt"));
        string cut = Path.Combine(dir, "cut.pt");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<SurgeonException>(() => PytorchImport.ReadStateDict(cut));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("cut.pt", e.Message);
    }

    [Fact]
    public void TheCliImportsAndReportsLikeSafetensors()
    {
        string ckpt = Path.Combine(dir, "m.ckpt");
        var r = CliRunner.Run(dir, "import", "--format", "pytorch", "--in", ImportFixtures.PathOf("mlpnet.pt"), "--model", "mlpnet", "--out", ckpt);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("loaded 3 of the model's 3 tensors by name", r.Stdout);
        Assert.True(File.Exists(ckpt));
        var bad = CliRunner.Run(dir, "import", "--format", "pytorch", "--in", ImportFixtures.PathOf("mlpnet.pt"), "--model", "lenet5", "--out", Path.Combine(dir, "x.ckpt"));
        Assert.Equal(2, bad.ExitCode);
        Assert.Single(bad.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(File.Exists(Path.Combine(dir, "x.ckpt")));
    }
}
