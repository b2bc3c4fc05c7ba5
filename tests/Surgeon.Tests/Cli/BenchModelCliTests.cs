using Surgeon.Models;
using Surgeon.Tests.Models;
using Surgeon.Training;

namespace Surgeon.Tests.Cli;

/// <summary>
/// surgeon bench-model as a child process on tiny checkpoints, a few runs: the table's structure and counts (not its
/// timings, which depend on the machine).
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class BenchModelCliTests(CliCheckpointFixture fixture)
{
    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void UnstructuredMlp_TableOfBothRuntimesAndBatches_TheoreticalSpeedupOnly()
    {
        string work = fixture.NewWorkFolder(), pruned = Path.Combine(work, "p.ckpt"), outDir = Path.Combine(work, "out");
        var prune = CliRunner.Run(work, "prune", "-c", fixture.Checkpoint, "-s", "0.9", "-o", pruned, "-q");
        Assert.True(prune.ExitCode == 0, prune.Stderr);

        var r = CliRunner.Run(work, "bench-model", "--dense", fixture.Checkpoint, "--pruned", pruned, "--runs", "2", "--warmup", "1",
            "--threads", "1", "-o", outDir, "-q");

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
        var lines = Lines(r.Stdout);
        Assert.StartsWith("mlpnet on 1x28x28 inputs: eval-mode inference, median of 2 timed run(s) after 1 warm-up run(s)", lines[0]);
        Assert.Contains("1 intra-op thread(s) per runtime", lines[0]);
        Assert.Equal("| model | checkpoint | params | nonzero params | FLOPs | nonzero FLOPs | theoretical speedup | " +
            "torchsharp, batch 1 (ms) | torchsharp, batch 64 (ms) | onnx, batch 1 (ms) | onnx, batch 64 (ms) |", lines[1]);
        // MLPNet 784-40-20-10 without biases: 32,360 weights, one MAC each; 90 % pruned leaves 3,236.
        Assert.StartsWith("| dense | `m.ckpt` | 32,360 | 32,360 | 32,360 | 32,360 | 1.00× | ", lines[3]);
        Assert.StartsWith("| pruned | `p.ckpt` | 32,360 | 3,236 | 32,360 | 3,236 | 10.00× | ", lines[4]);
        Assert.StartsWith("| **speedup** (dense ÷ pruned) | | | | | | **10.00×** | **", lines[5]);
        Assert.All(lines[1..6], l => Assert.Equal(12, l.Count(c => c == '|')));
        Assert.StartsWith("The pruned model has the dense model's layer sizes", lines[6]);

        Assert.Equal(r.Stdout, File.ReadAllText(Path.Combine(outDir, "bench-model.md")));
        var csv = Lines(File.ReadAllText(Path.Combine(outDir, "bench-model.csv")));
        Assert.Equal(1 + 2 * 2 * 2, csv.Length); // 2 models × 2 runtimes × 2 batch sizes
        Assert.Equal(["dense", "pruned"], csv.Skip(1).Select(l => l.Split(',')[0]).Distinct());
        Assert.Equal(["torchsharp", "onnx"], csv.Skip(1).Select(l => l.Split(',')[3]).Distinct());
        Assert.Equal(["1", "64"], csv.Skip(1).Select(l => l.Split(',')[4]).Distinct());
        Assert.Equal(["mlpnet"], csv.Skip(1).Select(l => l.Split(',')[2]).Distinct());
    }

    [Fact]
    public void FilterPrunedVgg_IsComparedAtItsSmallerSize()
    {
        string work = fixture.NewWorkFolder();
        var model = ConvModels.Create("vgg13", [1, 8, 8], width: 0.0625);
        var shrunk = ConvModels.Structured(model).Shrink(new Dictionary<string, long[]> { ["features.0"] = [0, 2], ["features.9"] = [0, 1, 2, 3, 4] });
        var info = new CheckpointInfo { Architecture = "vgg13", InputShape = [1, 8, 8], NumClasses = 10, Width = 0.0625, Dataset = "random" };
        string dense = Path.Combine(work, "dense.ckpt"), pruned = Path.Combine(work, "filters.ckpt");
        Checkpoint.Save(dense, model, info);
        Checkpoint.Save(pruned, shrunk, info.WithSpec(ConvModels.Structured(shrunk).Spec));
        var denseCost = ModelCost.Measure(model, [1, 8, 8]);
        var prunedCost = ModelCost.Measure(shrunk, [1, 8, 8]);

        var r = CliRunner.Run(work, "bench-model", "--dense", dense, "--pruned", pruned, "--runtimes", "onnx,torchsharp-onednn",
            "-b", "2", "--runs", "2", "--warmup", "0", "--threads", "1", "-q");

        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = Lines(r.Stdout);
        Assert.EndsWith("| onnx, batch 2 (ms) | torchsharp-onednn, batch 2 (ms) |", lines[1]);
        string theoretical = ((double)denseCost.Flops / prunedCost.NonzeroFlops).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) + "×";
        Assert.StartsWith($"| pruned | `filters.ckpt` | {prunedCost.Parameters:N0} | {prunedCost.NonzeroParameters:N0} | {prunedCost.Flops:N0} | {prunedCost.NonzeroFlops:N0} | {theoretical} |", lines[4]);
        Assert.True(prunedCost.Flops < denseCost.Flops);
        Assert.Equal(6, lines.Length); // no note: the model really shrank
        Assert.False(Directory.Exists(Path.Combine(work, "out")));
    }
}
