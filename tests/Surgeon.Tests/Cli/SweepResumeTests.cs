using System.Text.Json;

namespace Surgeon.Tests.Cli;

/// <summary>
/// A sweep killed mid-way (the whole process tree, as a crash or a power cut would) and rerun gives the same reports as
/// an uninterrupted run, computes no point twice, and leaves no temporary file behind.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class SweepResumeTests(CliCheckpointFixture fixture)
{
    private static readonly string[] Sparsities = ["0.3", "0.5", "0.7", "0.8", "0.9", "0.95"];
    private static readonly string[] Methods = ["mp", "wf"];
    private static readonly int[] Seeds = [0, 1];

    private string[] Sweep(string outDir) =>
        ["sweep", "-c", fixture.Checkpoint, "--methods", string.Join(',', Methods), "--sparsities", string.Join(',', Sparsities),
         "--seeds", string.Join(',', Seeds), "--fisher-samples", "200", "--out-dir", outDir];

    [Fact]
    public void KilledSweep_Resumes_ToTheSameReport_WithNoPointComputedTwice()
    {
        string work = fixture.NewWorkFolder();
        string interrupted = Path.Combine(work, "interrupted"), uninterrupted = Path.Combine(work, "uninterrupted");
        string journal = Path.Combine(interrupted, "points.jsonl");
        int total = Methods.Length * Sparsities.Length * Seeds.Length;

        // Start, wait for the first finished points, kill the process tree.
        int killedPid;
        using (var p = CliRunner.Start(work, Sweep(interrupted)))
        {
            killedPid = p.Id;
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (JournalLines(journal) < 2)
            {
                Assert.False(p.HasExited, $"the sweep exited (code {(p.HasExited ? p.ExitCode : 0)}) before it could be killed");
                Assert.True(DateTime.UtcNow < deadline, "no point was journaled within 2 minutes");
                Thread.Sleep(20);
            }
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        int before = ParsedPoints(journal).Count;
        Assert.InRange(before, 2, total - 1); // the kill landed mid-way
        Assert.False(File.Exists(Path.Combine(interrupted, "sweep.md")), "the sweep finished before the kill");
        // A kill during an atomic write leaves the temporary file of the dead process; the rerun must clear it.
        string stale = Path.Combine(interrupted, $".sweep.tmp-{killedPid}-{Guid.NewGuid():N}.md");
        File.WriteAllText(stale, "| sparsity | half a tab");

        var resumed = CliRunner.Run(work, Sweep(interrupted));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains($"resuming: {before} point(s) already in", resumed.Stderr);
        var full = CliRunner.Run(work, Sweep(uninterrupted));
        Assert.True(full.ExitCode == 0, full.Stderr);

        // The same reports, table and points; the per-point seconds differ by nature and are left out.
        foreach (string file in new[] { "sweep.md", "summary.csv" })
            Assert.Equal(File.ReadAllText(Path.Combine(uninterrupted, file)), File.ReadAllText(Path.Combine(interrupted, file)));
        Assert.Equal(WithoutSeconds(Path.Combine(uninterrupted, "sweep.csv")), WithoutSeconds(Path.Combine(interrupted, "sweep.csv")));
        Assert.Equal(full.Stdout, resumed.Stdout);

        // Every point journaled exactly once, with the uninterrupted run's results.
        var points = ParsedPoints(journal);
        Assert.Equal(total, points.Count);
        Assert.Equal(total, points.Select(p => p.Key).Distinct().Count());
        var reference = ParsedPoints(Path.Combine(uninterrupted, "points.jsonl")).ToDictionary(p => p.Key, p => p.Result);
        foreach (var (key, result) in points)
            Assert.Equal(reference[key], result);

        Assert.False(File.Exists(stale));
        Assert.Empty(Directory.GetFiles(work, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void APointWhoseOutputsOverflow_IsRecordedWithItsLossAsNaN_AndDoesNotPoisonTheJournal()
    {
        // --update-scale 1e30 blows WoodFisher's update up to weights of ~1e28: finite, but the logits overflow float32,
        // so the loss is NaN: a result (the method destroyed the model), not an error. It used to end the sweep with an
        // internal error ("NaN cannot be written as valid JSON") on every rerun.
        string work = fixture.NewWorkFolder(), outDir = Path.Combine(work, "sweep");
        string[] args = ["sweep", "-c", fixture.Checkpoint, "--methods", "mp,wf", "--sparsities", "0.5", "--update-scale", "1e30",
            "--fisher-samples", "100", "--out-dir", outDir];
        var first = CliRunner.Run(work, args);
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("wf at 0.5 (seed 0): the pruned model's outputs overflow float32 (test loss NaN); recorded as a result", first.Stderr);
        var lines = File.ReadAllLines(Path.Combine(outDir, "points.jsonl"));
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"method\":\"wf\"", lines[1]);
        Assert.Contains("\"loss\":\"NaN\"", lines[1]);
        Assert.Contains("\"loss\": \"NaN\"", File.ReadAllText(Path.Combine(outDir, "sweep.json")));

        var rerun = CliRunner.Run(work, args);
        Assert.True(rerun.ExitCode == 0, rerun.Stderr);
        Assert.Contains("resuming: 2 point(s) already in", rerun.Stderr);
        Assert.Equal(first.Stdout, rerun.Stdout);
        var report = CliRunner.Run(work, "report", "sweep", outDir);
        Assert.True(report.ExitCode == 0, report.Stderr);
        Assert.Contains("| 0.5 |", report.Stdout);
        var fromJournal = CliRunner.Run(work, "report", "sweep", Path.Combine(outDir, "points.jsonl"));
        Assert.True(fromJournal.ExitCode == 0, fromJournal.Stderr);
    }

    [Fact]
    public void SecondSweepOnTheSameFolder_IsRefusedAtOnce_NamingTheFirst_AndEveryPointIsJournaledOnce()
    {
        string work = fixture.NewWorkFolder(), outDir = Path.Combine(work, "shared");
        string journal = Path.Combine(outDir, "points.jsonl");
        // Five seeds: enough points that the first is still computing when the second has started and been refused.
        string[] sweep = [.. Sweep(outDir).Take(7), "--seeds", "0,1,2,3,4", "--fisher-samples", "200", "--out-dir", outDir];
        using var first = CliRunner.Start(work, sweep);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (JournalLines(journal) < 1) // the first run holds the folder and is computing
        {
            Assert.False(first.HasExited, $"the first sweep exited (code {(first.HasExited ? first.ExitCode : 0)}) before its first point");
            Assert.True(DateTime.UtcNow < deadline, "no point was journaled within 2 minutes");
            Thread.Sleep(20);
        }

        var second = CliRunner.Run(work, sweep);

        BadInputTests.AssertCleanError(second, $"is in use by another surgeon run (pid {first.Id})");
        Assert.False(first.HasExited, "the first sweep finished before the second was refused; the test proves nothing");
        Assert.True(first.WaitForExit(TimeSpan.FromMinutes(3)), "the first sweep did not finish");
        Assert.Equal(0, first.ExitCode);
        var points = ParsedPoints(journal);
        Assert.Equal(Methods.Length * Sparsities.Length * 5, points.Count);
        Assert.Equal(points.Count, points.Select(p => p.Key).Distinct().Count());
        Assert.False(File.Exists(Path.Combine(outDir, Surgeon.IO.FolderLock.FileName)), "the lock file outlived the run");
    }

    internal static int JournalLines(string path)
    {
        if (!File.Exists(path)) return 0;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Count(c => c == '\n');
    }

    /// <summary>The journal's whole lines as (method|sparsity|seed, accuracy|loss|actual sparsity); a line cut by the kill is skipped.</summary>
    private static List<(string Key, string Result)> ParsedPoints(string path)
    {
        var points = new List<(string, string)>();
        foreach (string line in File.ReadAllLines(path))
        {
            JsonElement point;
            try { point = JsonDocument.Parse(line).RootElement.GetProperty("point"); }
            catch (JsonException) { continue; }
            points.Add(($"{point.GetProperty("method")}|{point.GetProperty("sparsity")}|{point.GetProperty("seed")}",
                $"{point.GetProperty("accuracy")}|{point.GetProperty("loss")}|{point.GetProperty("actualSparsity")}"));
        }
        return points;
    }

    private static List<string> WithoutSeconds(string csv) =>
        File.ReadLines(csv).Select(l => l[..l.LastIndexOf(',')]).ToList();
}
