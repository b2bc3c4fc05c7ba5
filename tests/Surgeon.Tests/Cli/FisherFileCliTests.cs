namespace Surgeon.Tests.Cli;

/// <summary>
/// <c>surgeon fisher</c> computes the per-sample gradients once; prune and sweep given <c>--fisher-file</c> give exactly
/// what they give computing them in-process, and a file of another checkpoint, N, seed set, or one damaged, is refused
/// with one line before anything is written.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class FisherFileCliTests(CliCheckpointFixture fixture)
{
    private string Fisher(string work, string name = "f.fisher", string samples = "100", string seeds = "0,1", string? checkpoint = null)
    {
        string path = Path.Combine(work, name);
        var r = CliRunner.Run(work, "fisher", "-c", checkpoint ?? fixture.Checkpoint, "--out", path, "--fisher-samples", samples, "--seeds", seeds, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return path;
    }

    [Fact]
    public void PruneWithTheFile_WritesTheSameWeights_AsComputingInProcess()
    {
        string work = fixture.NewWorkFolder();
        string fisher = Fisher(work);
        foreach (string method in new[] { "wf", "mp+cbs-u" })
        {
            string a = Path.Combine(work, $"{method}-a.ckpt"), b = Path.Combine(work, $"{method}-b.ckpt");
            string[] prune = ["prune", "-c", fixture.Checkpoint, "--method", method, "-s", "0.9", "--fisher-samples", "100", "--seed", "1", "-q"];
            var inProcess = CliRunner.Run(work, [.. prune, "--out", a]);
            var fromFile = CliRunner.Run(work, [.. prune, "--out", b, "--fisher-file", fisher]);
            Assert.True(inProcess.ExitCode == 0, inProcess.Stderr);
            Assert.True(fromFile.ExitCode == 0, fromFile.Stderr);
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
            Assert.Equal(inProcess.Stdout.Replace(a, "OUT"), fromFile.Stdout.Replace(b, "OUT"));
        }
    }

    [Fact]
    public void PlannedSweepWithTheFile_GivesTheTableOfTheSweepWithout()
    {
        string work = fixture.NewWorkFolder();
        string fisher = Fisher(work);
        string[] grid = ["sweep", "-c", fixture.Checkpoint, "--methods", "mp,wf", "--sparsities", "0.5,0.9", "--seeds", "0,1", "--fisher-samples", "100", "-q"];
        string planned = Path.Combine(work, "planned"), local = Path.Combine(work, "local");
        Assert.Equal(0, CliRunner.Run(work, [.. grid, "--out-dir", planned, "--plan-only", "--fisher-file", fisher]).ExitCode);
        var worker = CliRunner.Run(work, "sweep", "--out-dir", planned, "-q");
        Assert.True(worker.ExitCode == 0, worker.Stderr);
        Assert.Equal(0, CliRunner.Run(work, "report", "sweep", planned, "--out-dir", planned).ExitCode);
        Assert.Equal(0, CliRunner.Run(work, [.. grid, "--out-dir", local]).ExitCode);
        Assert.Equal(File.ReadAllText(Path.Combine(local, "sweep.md")), File.ReadAllText(Path.Combine(planned, "sweep.md")));
        Assert.Equal(File.ReadAllText(Path.Combine(local, "summary.csv")), File.ReadAllText(Path.Combine(planned, "summary.csv")));
    }

    [Theory]
    [InlineData("other-checkpoint", "holds the Fisher of another checkpoint")]
    [InlineData("other-n", "holds N = 50 per-sample gradients but this run asks --fisher-samples 100")]
    [InlineData("other-seed", "holds the seeds 0,1 but this run needs seed 3")]
    [InlineData("bit-flip", "is damaged: its SHA-256 does not match")]
    [InlineData("truncated", "is damaged: ")]
    [InlineData("not-fisher", "is not a Fisher file written by 'surgeon fisher'")]
    [InlineData("missing", "Fisher file not found")]
    public void WrongOrDamagedFile_OneLineError_NothingWritten(string setup, string phrase)
    {
        string work = fixture.NewWorkFolder();
        string fisher = Path.Combine(work, "f.fisher");
        int seed = 0;
        switch (setup)
        {
            case "other-checkpoint":
                var pruned = CliRunner.Run(work, "prune", "-c", fixture.Checkpoint, "--method", "mp", "-s", "0.5", "--out", Path.Combine(work, "other.ckpt"), "-q");
                Assert.True(pruned.ExitCode == 0, pruned.Stderr);
                Fisher(work, checkpoint: Path.Combine(work, "other.ckpt"));
                break;
            case "other-n": Fisher(work, samples: "50"); break;
            case "other-seed": Fisher(work); seed = 3; break;
            case "bit-flip":
                Fisher(work);
                var bytes = File.ReadAllBytes(fisher);
                bytes[bytes.Length / 2] ^= 0x10;
                File.WriteAllBytes(fisher, bytes);
                break;
            case "truncated":
                Fisher(work);
                using (var f = new FileStream(fisher, FileMode.Open)) f.SetLength(f.Length - 100);
                break;
            case "not-fisher": File.WriteAllText(fisher, "method,sparsity\n"); break;
        }
        var before = CliCheckpointFixture.Snapshot(work);
        string[][] runs =
        [
            ["prune", "-c", fixture.Checkpoint, "--method", "wf", "-s", "0.9", "--fisher-samples", "100", "--seed", $"{seed}",
                "--fisher-file", fisher, "--out", Path.Combine(work, "out", "p.ckpt"), "-q"],
            ["sweep", "-c", fixture.Checkpoint, "--methods", "wf", "--sparsities", "0.9", "--seeds", $"{seed}", "--fisher-samples", "100",
                "--fisher-file", fisher, "--out-dir", Path.Combine(work, "out"), "-q"],
        ];
        foreach (var args in runs)
        {
            BadInputTests.AssertCleanError(CliRunner.Run(work, args), phrase);
            Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
        }
    }
}
