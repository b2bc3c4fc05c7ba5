using Surgeon.Data;

namespace Surgeon.Tests.Cli;

/// <summary>End-to-end runs of the surgeon command on a tiny IDX dataset, and its answers to bad input.</summary>
public class CliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string TinyData()
    {
        string data = Path.Combine(dir, "data");
        CliCheckpointFixture.WriteIdxFolder(data, side: 6, train: 200, test: 80);
        return data;
    }


    [Fact]
    public void TrainPruneEvalSweep_EndToEnd()
    {
        string data = TinyData();
        string ckpt = Path.Combine(dir, "m.ckpt");
        var train = CliRunner.Run(dir, "train", "--data", data, "--epochs", "3", "--out", ckpt, "--seed", "1", "--quiet");
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.True(File.Exists(ckpt) && File.Exists(ckpt + ".json"));

        string pruned = Path.Combine(dir, "p.ckpt");
        var prune = CliRunner.Run(dir, "prune", "-c", ckpt, "--method", "lmp", "--sparsity", "0.5", "--out", pruned, "--quiet");
        Assert.True(prune.ExitCode == 0, prune.Stderr);
        Assert.Contains("lmp at", prune.Stdout);

        var eval = CliRunner.Run(dir, "eval", "-c", pruned);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Contains("sparsity 50", eval.Stdout);

        string outDir = Path.Combine(dir, "sweep");
        var sweep = CliRunner.Run(dir, "sweep", "-c", ckpt, "--methods", "mp,lmp", "--sparsities", "0.5,0.9", "--out-dir", outDir, "--quiet");
        Assert.True(sweep.ExitCode == 0, sweep.Stderr);
        foreach (var f in new[] { "sweep.md", "sweep.csv", "summary.csv", "sweep.json", "sweep.png" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(1 + 4, File.ReadAllLines(Path.Combine(outDir, "sweep.csv")).Length);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(outDir, "points.jsonl")).Length);
        Assert.Empty(Directory.GetFiles(outDir, "*tmp*"));

        // --test-subset evaluates every point on the same class-balanced subset (40 of the 80 test images here): the
        // journal's key says so (a sweep on another subset does not resume from it) and accuracies are k/40.
        string subsetDir = Path.Combine(dir, "sweep-subset");
        var onSubset = CliRunner.Run(dir, "sweep", "-c", ckpt, "--methods", "mp,lmp", "--sparsities", "0.5,0.9", "--test-subset", "40",
            "--out-dir", subsetDir, "--quiet");
        Assert.True(onSubset.ExitCode == 0, onSubset.Stderr);
        foreach (string line in File.ReadAllLines(Path.Combine(subsetDir, "points.jsonl")))
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            Assert.EndsWith("|test-subset=40", json.RootElement.GetProperty("key").GetString());
            double correct = json.RootElement.GetProperty("point").GetProperty("accuracy").GetDouble() * 40;
            Assert.Equal(Math.Round(correct), correct, 9);
        }

        // The same sweep again resumes from points.jsonl: nothing is recomputed and the table is the same.
        string firstCsv = File.ReadAllText(Path.Combine(outDir, "summary.csv"));
        var again = CliRunner.Run(dir, "sweep", "-c", ckpt, "--methods", "mp,lmp", "--sparsities", "0.5,0.9", "--out-dir", outDir);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("resuming: 4 point(s)", again.Stderr);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(outDir, "points.jsonl")).Length);
        Assert.Equal(firstCsv, File.ReadAllText(Path.Combine(outDir, "summary.csv")));
    }

    [Fact]
    public void TrainWithFilterPruning_WritesAShrunkCheckpointThatLoads_AndTheDynamics()
    {
        string data = TinyData();
        string ckpt = Path.Combine(dir, "r.ckpt");
        var train = CliRunner.Run(dir, "train", "--model", "resnet20", "--width", "0.25", "--data", data, "--epochs", "2",
            "--prune-measure", "loss-preservation", "--prune-target", "0.5", "--prune-start", "1", "--score-samples", "64",
            "--dynamics-samples", "32", "--out", ckpt);
        Assert.True(train.ExitCode == 0, train.Stderr);
        Assert.Contains("pruned 50.0 % of the current filters", train.Stderr);
        var csv = File.ReadAllLines(ckpt + ".dynamics.csv");
        Assert.Equal(1 + 4, csv.Length); // initialisation, epoch 1, round 1, epoch 2
        Assert.True(new FileInfo(ckpt + ".dynamics.png").Length > 1000);
        Assert.Contains("\"channels\"", File.ReadAllText(ckpt + ".json"));
        var eval = CliRunner.Run(dir, "eval", "-c", ckpt);
        Assert.True(eval.ExitCode == 0, eval.Stderr);

        // A ResNet pruned in the paper set (its inner convs): eval's headline sparsity is that of the set, then all layers.
        string pruned = Path.Combine(dir, "r-mp.ckpt");
        Assert.Equal(0, CliRunner.Run(dir, "prune", "-c", ckpt, "-m", "mp", "-s", "0.5", "--out", pruned, "--quiet").ExitCode);
        eval = CliRunner.Run(dir, "eval", "-c", pruned);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Matches(@"sparsity 50\.\d\d ?% of the paper prunable set \([\d,]+ weights\), [1-4]\d\.\d\d ?% of every Linear/Conv2d weight", eval.Stdout);

        string png = Path.Combine(dir, "loss.png");
        var plot = CliRunner.Run(dir, "plot-dynamics", "--out", png, $"a={ckpt}.dynamics.csv", $"a={ckpt}.dynamics.csv");
        Assert.True(plot.ExitCode == 0, plot.Stderr);
        Assert.True(new FileInfo(png).Length > 1000);
        CliRunner.AssertCleanError(CliRunner.Run(dir, "plot-dynamics", "--out", png, "no-label"), "LABEL=PATH");
    }

    [Fact]
    public void TrainWithBadPruningOptions_OneLine_NoCheckpoint()
    {
        string data = TinyData();
        string ckpt = Path.Combine(dir, "bad.ckpt");
        CliRunner.AssertCleanError(CliRunner.Run(dir, "train", "--data", data, "--prune-measure", "magic", "--prune-target", "0.5", "--out", ckpt),
            "unknown");
        CliRunner.AssertCleanError(CliRunner.Run(dir, "train", "--data", data, "--prune-measure", "magnitude", "--prune-target", "1.5", "--out", ckpt),
            "--prune-target must be in [0, 1)");
        CliRunner.AssertCleanError(CliRunner.Run(dir, "train", "--data", data, "--prune-measure", "magnitude", "--out", ckpt),
            "--prune-target");
        CliRunner.AssertCleanError(CliRunner.Run(dir, "train", "--data", data, "--prune-measure", "magnitude", "--prune-target", "0.5",
            "--prune-structure", "filters", "--out", ckpt), "--prune-structure weights");
        CliRunner.AssertCleanError(CliRunner.Run(dir, "train", "--data", data, "--epochs", "2", "--prune-measure", "magnitude",
            "--prune-target", "0.5", "--prune-start", "3", "--out", ckpt), "raise --epochs");
        Assert.False(File.Exists(ckpt));
    }

    [Fact]
    public void UnknownMethod_OneLine()
    {
        var r = CliRunner.Run(dir, "prune", "-c", "whatever.ckpt", "--method", "magic", "--sparsity", "0.5");
        CliRunner.AssertCleanError(r, "unknown pruning method 'magic'");
    }

    [Fact]
    public void SparsityOutOfRange_OneLine()
    {
        var r = CliRunner.Run(dir, "prune", "-c", "whatever.ckpt", "--sparsity", "1.5");
        CliRunner.AssertCleanError(r, "sparsity must be in [0, 1)");
    }

    [Fact]
    public void UnparsableOrUnknownArguments_OneLine()
    {
        CliRunner.AssertCleanError(CliRunner.Run(dir, "prune", "-c", "x.ckpt", "--sparsity", "abc"), "Cannot parse argument 'abc'");
        CliRunner.AssertCleanError(CliRunner.Run(dir, "sweep", "--bogus"), "'--bogus'");
        CliRunner.AssertCleanError(CliRunner.Run(dir), "no command given");
    }

    [Fact]
    public void MissingCheckpoint_OneLine()
    {
        var r = CliRunner.Run(dir, "eval", "-c", Path.Combine(dir, "missing.ckpt"));
        CliRunner.AssertCleanError(r, "checkpoint not found");
    }

    [Fact]
    public void CheckpointOnTheWrongData_OneLine()
    {
        string data = TinyData();
        string ckpt = Path.Combine(dir, "m.ckpt");
        Assert.Equal(0, CliRunner.Run(dir, "train", "--data", data, "--epochs", "1", "--out", ckpt, "--quiet").ExitCode);
        var r = CliRunner.Run(dir, "eval", "-c", ckpt, "--data", "digits");
        CliRunner.AssertCleanError(r, "expects 1×6×6 inputs");
    }

    [Fact]
    public void Help_ExplainsEveryCommand()
    {
        var r = CliRunner.Run(dir, "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var c in new[] { "train", "prune", "eval", "sweep", "demo", "methods" })
            Assert.Contains(c, r.Stdout);
        var prune = CliRunner.Run(dir, "prune", "--help");
        Assert.Contains("--sparsity", prune.Stdout);
        Assert.Contains("score[@rule][+update]", prune.Stdout); // the method grammar; surgeon methods lists the stages
    }
}
