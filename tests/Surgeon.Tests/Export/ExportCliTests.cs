using Surgeon.Tests.Cli;
using Surgeon.Training;

namespace Surgeon.Tests.Export;

/// <summary>
/// <c>surgeon export</c> and <c>surgeon import</c> as child processes: the fixture's trained checkpoint exports to an
/// ONNX file that ONNX Runtime runs to the checkpoint's logits, and to sparse and safetensors files that import back to
/// the very same weights file. Their bad inputs are cases of <see cref="BadInputTests"/>.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class ExportCliTests(CliCheckpointFixture fixture)
{
    [Fact]
    public void Export_WritesAnOnnxFile_ThatRunsToTheCheckpointsLogits()
    {
        string work = fixture.NewWorkFolder();
        string path = Path.Combine(work, "models", "m.onnx"); // a missing parent folder is created

        var r = CliRunner.Run(work, "export", "--format", "onnx", "-c", fixture.Checkpoint, "-o", path);

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
        Assert.Contains("mlpnet → ", r.Stdout);
        Assert.Contains("ONNX opset 13", r.Stdout);
        Assert.Equal([Path.Combine("models", "m.onnx")], Directory.GetFiles(work, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(work, f)));
        var (model, info) = Checkpoint.Load(fixture.Checkpoint);
        using (model)
            Assert.True(OnnxRuntimeRunner.CompareLogits(model, path, info.InputShape).MaxDelta <= 1e-4);
    }

    [Theory]
    [InlineData("sparse", "this file is ")]
    [InlineData("safetensors", "safetensors, 3 tensors (3 F32)")]
    public void ExportThenImport_GivesBackTheSameWeightsFile(string format, string detail)
    {
        string work = fixture.NewWorkFolder();
        string file = Path.Combine(work, "m." + format), imported = Path.Combine(work, "back", "m.ckpt");

        var export = CliRunner.Run(work, "export", "-f", format, "-c", fixture.Checkpoint, "-o", file);
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.Contains(detail, export.Stdout);
        var import = CliRunner.Run(work, "import", "-f", format, "-i", file, "-o", imported);
        Assert.True(import.ExitCode == 0, import.Stderr);
        Assert.Equal("", import.Stderr);

        Assert.Equal(File.ReadAllBytes(fixture.Checkpoint), File.ReadAllBytes(imported));
        var info = Checkpoint.ReadInfo(imported);
        var original = Checkpoint.ReadInfo(fixture.Checkpoint);
        Assert.Equal(original.WeightsSha256, info.WeightsSha256);
        Assert.Equal((original.Dataset, original.TestAccuracy, original.Seed), (info.Dataset, info.TestAccuracy, info.Seed));
        Assert.Equal((Path.GetFileName(file), format), (info.Notes["importedFrom"], info.Notes["importFormat"]));
        Assert.Contains($"mlpnet → {imported} (checkpoint, sidecar m.ckpt.json)", import.Stdout);
        Checkpoint.Load(imported).Model.Dispose(); // loads like any checkpoint
    }

    [Fact]
    public void SparseExport_ReportsTheSizesOfTheThreeFiles()
    {
        string work = fixture.NewWorkFolder();
        var r = CliRunner.Run(work, "export", "-f", "sparse", "-c", fixture.Checkpoint, "-o", Path.Combine(work, "m.sparse"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        long sparse = new FileInfo(Path.Combine(work, "m.sparse")).Length, dense = new FileInfo(fixture.Checkpoint).Length;
        Assert.Contains($"mlpnet → {Path.Combine(work, "m.sparse")} ({sparse.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes): sparse v1, 3 tensors", r.Stdout);
        Assert.Contains($"dense weights file {dense.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes, its gzip ", r.Stdout);
    }

    [Fact]
    public void SafetensorsImport_IntoANamedModel_PrintsTheReport()
    {
        string work = fixture.NewWorkFolder();
        string file = Path.Combine(work, "m.safetensors"), imported = Path.Combine(work, "m.ckpt");
        Assert.Equal(0, CliRunner.Run(work, "export", "-f", "safetensors", "-c", fixture.Checkpoint, "-o", file).ExitCode);

        var r = CliRunner.Run(work, "import", "-f", "safetensors", "-i", file, "-o", imported, "--model", "mlpnet", "--data", "digits");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(["loaded 3 of the model's 3 tensors by name", "missing: none", "unexpected: none", "mis-shaped: none"], r.Stdout.Split('\n')[..4]);
        Assert.Equal(File.ReadAllBytes(fixture.Checkpoint), File.ReadAllBytes(imported));
    }
}
