using Surgeon.Tests.Cli;
using Surgeon.Training;

namespace Surgeon.Tests.Export;

/// <summary>
/// <c>surgeon export</c> as a child process: the fixture's trained checkpoint exports to an ONNX file that ONNX Runtime
/// runs to the checkpoint's logits, and every bad input stops it with exit code 2, one line "error: ..." and nothing
/// written (the case's folder holds exactly what the setup put there).
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

    // Placeholders: {work} the case's folder (outputs go to {work}/out, which must not exist afterwards), {ckpt} the good checkpoint.
    public static TheoryData<string, string, string[]> Cases => new()
    {
        { "", "checkpoint not found", ["export", "-f", "onnx", "-c", "{work}/missing.ckpt", "-o", "{work}/out/m.onnx"] },
        { "", "is a folder, not a checkpoint", ["export", "-f", "onnx", "-c", "{work}", "-o", "{work}/out/m.onnx"] },
        { "bitflip", "SHA-256 does not match", ["export", "-f", "onnx", "-c", "{work}/bad.ckpt", "-o", "{work}/out/m.onnx"] },
        { "", "unknown export format 'tflite': known formats are onnx", ["export", "-f", "tflite", "-c", "{ckpt}", "-o", "{work}/out/m.onnx"] },
        // The format is checked before the checkpoint, so a wrong format is named even when the checkpoint is missing too.
        { "", "unknown export format 'safetensors'", ["export", "-f", "safetensors", "-c", "{work}/missing.ckpt", "-o", "{work}/out/m.onnx"] },
        { "", "Option '--format' is required", ["export", "-c", "{ckpt}", "-o", "{work}/out/m.onnx"] },
        { "", "it is a folder; give a file name", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{work}"] },
        { "file", "is a file, not a folder", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{work}/file.txt/m.onnx"] },
        { "", "does not accept new files", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "/proc/surgeon-m.onnx"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadInput_OneClearLine_ExitCode2_NothingLeftBehind(string setup, string phrase, string[] args)
    {
        string work = fixture.NewWorkFolder();
        Prepare(setup, work);
        var before = CliCheckpointFixture.Snapshot(work);
        var good = CliCheckpointFixture.Snapshot(fixture.Good);
        var expanded = args.Select(a => a.Replace("{work}", work).Replace("{ckpt}", fixture.Checkpoint)).ToArray();

        var r = CliRunner.Run(work, expanded);

        BadInputTests.AssertCleanError(r, phrase);
        Assert.False(Directory.Exists(Path.Combine(work, "out")), "the output folder was created");
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work)); // no partial output, no temporary files
        Assert.Equal(good, CliCheckpointFixture.Snapshot(fixture.Good));
        Assert.False(File.Exists("/proc/surgeon-m.onnx"));
    }

    private void Prepare(string setup, string work)
    {
        switch (setup)
        {
            case "":
                break;
            case "file":
                File.WriteAllText(Path.Combine(work, "file.txt"), "a file, not a folder\n");
                break;
            case "bitflip":
                var weights = File.ReadAllBytes(fixture.Checkpoint);
                weights[weights.Length / 2] ^= 0x10;
                File.WriteAllBytes(Path.Combine(work, "bad.ckpt"), weights);
                File.Copy(fixture.Sidecar, Path.Combine(work, "bad.ckpt.json"));
                break;
            default:
                throw new ArgumentException($"unknown setup '{setup}'", nameof(setup));
        }
    }
}
