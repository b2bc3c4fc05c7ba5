namespace Surgeon.Tests.Cli;

/// <summary>
/// A sweep of a tiny MLPNet through a real Slurm (munged, slurmctld and slurmd started on localhost by the test):
/// submitted with --slurm --submit, the report job's table equals the same sweep run locally; then the same sweep with
/// one array task cancelled mid-point has that point listed as missing by the report, and resubmitting the same
/// command computes only it and gives the same table again (every point in the journal once).
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class RealSlurmTests(CliCheckpointFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    // mp is quick, cbs takes seconds per point, so a task can be caught mid-point.
    private string[] Grid(string outDir, params string[] extra) =>
        ["sweep", "-c", fixture.Checkpoint, "--methods", "mp,cbs", "--sparsities", "0.5,0.9", "--seeds", "0", "--fisher-samples", "100",
         "--cbs-candidates", "10", "--cbs-loss-samples", "1000", "--out-dir", outDir, "-q", .. extra];

    [SlurmFact]
    public void SweepOnSlurm_EqualsTheLocalTable_AndACancelledTaskIsRecomputedByResubmission()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string work = fixture.NewWorkFolder();
        string local = Path.Combine(work, "local");
        var localRun = CliRunner.Run(work, Grid(local));
        Assert.True(localRun.ExitCode == 0, localRun.Stderr);
        string expected = File.ReadAllText(Path.Combine(local, "sweep.md"));

        using var cluster = new SlurmCluster();
        output.WriteLine($"cluster up after {clock.Elapsed.TotalSeconds:F1} s ({cluster.Run("sinfo", "-h").Trim()})");

        // 1. Uninterrupted: array + report job; the report's table is the local one.
        string whole = Path.Combine(work, "whole");
        var submitted = CliRunner.RunWith(cluster.Environment, work, Grid(whole, "--slurm", "--submit"));
        Assert.True(submitted.ExitCode == 0, submitted.Stderr);
        output.WriteLine(submitted.Stdout.Trim());
        Assert.Matches(@"submitted array job \d+ and report job \d+ \(afterany:\d+\)", submitted.Stdout);
        cluster.WaitForIdleQueue(TimeSpan.FromMinutes(2));
        Assert.True(File.Exists(Path.Combine(whole, "sweep.md")), "the report job wrote no table\n" + SlurmLogs(whole) + cluster.Logs());
        Assert.Equal(expected, File.ReadAllText(Path.Combine(whole, "sweep.md")));
        Assert.Equal(4, File.ReadAllLines(Path.Combine(whole, "points.jsonl")).Length);
        output.WriteLine($"uninterrupted run equal to the local table after {clock.Elapsed.TotalSeconds:F1} s");

        // 2. Cancel the task of a cbs point while it computes (its claim taken, its line not yet in the journal).
        string cut = Path.Combine(work, "cut");
        var first = CliRunner.RunWith(cluster.Environment, work, Grid(cut, "--slurm", "--submit"));
        Assert.True(first.ExitCode == 0, first.Stderr);
        string arrayId = System.Text.RegularExpressions.Regex.Match(first.Stdout, @"array job (\d+)").Groups[1].Value;
        var plan = Surgeon.Pruning.SweepPlan.Load(Path.Combine(cut, "plan.json"));
        var victim = plan.Points.First(p => p.Method == "cbs");
        string holder = Surgeon.Pruning.SweepPlan.ClaimPath(cut, victim.Index) + Surgeon.IO.ExclusiveFileLock.HolderSuffix;
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!File.Exists(holder))
        {
            Assert.True(DateTime.UtcNow < deadline, $"point {victim.Describe()} was never claimed\n{SlurmLogs(cut)}{cluster.Logs()}");
            Thread.Sleep(20);
        }
        // Freeze the worker the moment its claim shows (the holder line names its pid), so a loaded machine cannot let
        // the point finish between the claim and the cancel (scancel still ends the stopped task).
        var pid = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(holder), @"pid (\d+)");
        if (pid.Success) System.Diagnostics.Process.Start("kill", ["-STOP", pid.Groups[1].Value])?.WaitForExit();
        cluster.Run("scancel", $"{arrayId}_{victim.Index}");
        cluster.WaitForIdleQueue(TimeSpan.FromMinutes(2));
        string journal = Path.Combine(cut, "points.jsonl");
        Assert.DoesNotContain(File.ReadAllLines(journal), l => l.Contains("\"cbs\"") && l.Contains($"\"sparsity\":{victim.Sparsity}"));
        Assert.Equal(3, File.ReadAllLines(journal).Length);
        string reportLog = string.Join("\n", Directory.GetFiles(Path.Combine(cut, "slurm"), "surgeon-sweep-report-*.out").Select(File.ReadAllText));
        Assert.Contains($"1 of 4 planned points have not finished: {victim.Describe()}", reportLog);
        output.WriteLine($"task {arrayId}_{victim.Index} cancelled mid-point; report: {reportLog.Split('\n').First(l => l.Contains("have not finished"))}");

        // 3. Resubmit the same command: only the missing point is computed, and the table is the local one.
        var again = CliRunner.RunWith(cluster.Environment, work, Grid(cut, "--slurm", "--submit"));
        Assert.True(again.ExitCode == 0, again.Stderr);
        cluster.WaitForIdleQueue(TimeSpan.FromMinutes(2));
        Assert.Equal(expected, File.ReadAllText(Path.Combine(cut, "sweep.md")));
        Assert.Equal(4, File.ReadAllLines(journal).Length);
        output.WriteLine($"resubmitted: table equal to the local one after {clock.Elapsed.TotalSeconds:F1} s\n{expected}");
    }

    private static string SlurmLogs(string folder) => !Directory.Exists(Path.Combine(folder, "slurm")) ? ""
        : string.Join("\n", Directory.GetFiles(Path.Combine(folder, "slurm")).Select(f => $"--- {f}\n{File.ReadAllText(f)}"));
}
