namespace Surgeon.Tests.Cli;

/// <summary>
/// Ctrl-C (SIGINT) or SIGTERM in the middle of a run, sent to the CLI as a child process: it exits with 128 + the
/// signal number and one line, and leaves no checkpoint, no dynamics file, no temporary file and no folder it made;
/// a sweep keeps the points it journaled and nothing else.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class InterruptTests(CliCheckpointFixture fixture)
{
    private const int SigInt = 2, SigTerm = 15;

    [SigintFact]
    public void Train_CtrlC_Exits130_LeavingNoCheckpointDynamicsOrTemporaryFile() => InterruptTraining(SigInt, 130, "SIGINT");

    [Fact]
    public void Train_Sigterm_Exits143_LeavingNoCheckpointDynamicsOrTemporaryFile() => InterruptTraining(SigTerm, 143, "SIGTERM");

    private void InterruptTraining(int signal, int exitCode, string name)
    {
        string work = fixture.NewWorkFolder(), outDir = Path.Combine(work, "runs", "deeper");
        // Long enough (1,000 epochs of 200 images) that it is still training when the signal comes.
        var (p, finish) = CliRunner.StartCollecting(work, "train", "--data", fixture.Data, "--epochs", "1000", "--dynamics-samples", "0",
            "-o", Path.Combine(outDir, "t.ckpt"), "-q");
        using (p)
        {
            // Training has started once the dynamics log (a temporary file until the checkpoint is written) exists.
            WaitFor(p, () => Directory.Exists(outDir) && Directory.EnumerateFiles(outDir, "*.tmp-*").Any(), "the dynamics log to appear");
            CliRunner.Signal(p, signal);
            var r = finish();

            Assert.True(r.ExitCode == exitCode, $"exit code {r.ExitCode}, stderr: {r.Stderr}");
            Assert.Equal([$"error: interrupted by {name}; unfinished outputs were removed"], r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal("", r.Stdout);
            Assert.Empty(Directory.GetFileSystemEntries(work)); // no checkpoint, dynamics, temporary file or the folders it made
        }
    }

    [Fact]
    public void Sweep_Sigterm_KeepsTheJournaledPoints_AndNothingElse()
    {
        string work = fixture.NewWorkFolder(), outDir = Path.Combine(work, "sweep");
        string journal = Path.Combine(outDir, "points.jsonl");
        var (p, finish) = CliRunner.StartCollecting(work, "sweep", "-c", fixture.Checkpoint, "--methods", "mp,wf",
            "--sparsities", "0.3,0.5,0.7,0.8,0.9,0.95", "--seeds", "0,1,2", "--fisher-samples", "200", "--out-dir", outDir, "-q");
        using (p)
        {
            WaitFor(p, () => SweepResumeTests.JournalLines(journal) >= 1, "a first journaled point");
            CliRunner.Signal(p, SigTerm);
            var r = finish();

            Assert.True(r.ExitCode == 143, $"exit code {r.ExitCode}, stderr: {r.Stderr}");
            Assert.Equal(["error: interrupted by SIGTERM; unfinished outputs were removed"], r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            // The journal (a rerun resumes from it), and no lock file, report or temporary file.
            Assert.Equal([journal], Directory.GetFileSystemEntries(outDir));
        }
    }

    private static void WaitFor(System.Diagnostics.Process p, Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (!condition())
        {
            Assert.False(p.HasExited, $"the run exited (code {(p.HasExited ? p.ExitCode : 0)}) before {what}");
            Assert.True(DateTime.UtcNow < deadline, $"no sign of {what} within 2 minutes");
            Thread.Sleep(10);
        }
    }
}

/// <summary>
/// A fact skipped when this test process ignores SIGINT (as a job started in the background of a non-interactive
/// shell does): its child processes inherit that, and .NET then leaves SIGINT ignored, as every Unix program must.
/// </summary>
public sealed class SigintFactAttribute : FactAttribute
{
    public SigintFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "sends SIGINT through Linux's kill";
            return;
        }
        string? ignored = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        if (ignored is not null && (Convert.ToUInt64(ignored["SigIgn:".Length..].Trim(), 16) & (1UL << (2 - 1))) != 0)
            Skip = "this test process ignores SIGINT (started in the background of a shell), so its child would too; the SIGTERM test covers the clean-up";
    }
}
