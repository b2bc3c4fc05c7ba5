using Surgeon.Tests.Cli;
using Surgeon.Training;

namespace Surgeon.Tests.Export;

/// <summary>
/// <c>surgeon export</c> as a child process: the fixture's trained checkpoint exports to an ONNX file that ONNX Runtime
/// runs to the checkpoint's logits. Its bad inputs are cases of <see cref="BadInputTests"/>.
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
}
