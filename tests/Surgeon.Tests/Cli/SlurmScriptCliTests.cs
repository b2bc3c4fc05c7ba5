namespace Surgeon.Tests.Cli;

/// <summary>
/// sweep --slurm writes a job array over the plan and a report job with the options asked for; the array script,
/// run as Slurm would run task 1, computes shard 1 of the plan; --submit hands both scripts to sbatch (a stand-in
/// that records its arguments) with the report afterany the array; a missing sbatch and bad options are one-line
/// errors with nothing written.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class SlurmScriptCliTests(CliCheckpointFixture fixture)
{
    private string[] Grid(string outDir, params string[] extra) =>
        ["sweep", "-c", fixture.Checkpoint, "--methods", "mp,wf", "--sparsities", "0.3,0.6,0.9", "--seeds", "0,1", "--fisher-samples", "100",
         "--out-dir", outDir, "-q", "--slurm", .. extra];

    [Fact]
    public void Scripts_HoldTheArrayAndTheOptions_AndTaskOneRunsShardOne()
    {
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid");
        var r = CliRunner.Run(work, Grid(dir, "--cpus-per-task", "2", "--time", "0-02:00", "--partition", "short",
            "--sbatch-option=--account=lab", "--sbatch-option=--qos=low", "--array-tasks", "3"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        string array = File.ReadAllText(Path.Combine(dir, "sweep.sbatch")), report = File.ReadAllText(Path.Combine(dir, "report.sbatch"));
        var lines = array.Split('\n');
        Assert.Equal("#!/bin/bash", lines[0]);
        foreach (string expected in new[] { "#SBATCH --array=0-2", "#SBATCH --cpus-per-task=2", "#SBATCH --time=0-02:00", "#SBATCH --partition=short",
            "#SBATCH --account=lab", "#SBATCH --qos=low", $"#SBATCH --output={dir}/slurm/surgeon-sweep-%A_%a.out" })
            Assert.Contains(expected, lines);
        // Memory: the printed figure, the curvature estimate of wf (N = 100 × d = 32,360 float32 ≈ 12 MiB and more) + 1 GiB.
        string mem = lines.Single(l => l.StartsWith("#SBATCH --mem=", StringComparison.Ordinal));
        long mib = long.Parse(mem["#SBATCH --mem=".Length..^1]);
        Assert.EndsWith("M", mem);
        Assert.InRange(mib, 1024 + 12, 1024 + 1024);
        Assert.Contains($"{mib:N0} MiB each", r.Stdout);
        Assert.EndsWith($"sweep --out-dir '{dir}' --shard \"$SLURM_ARRAY_TASK_ID/3\" --quiet", lines.Single(l => l.StartsWith("exec ", StringComparison.Ordinal)));
        foreach (string expected in new[] { "#SBATCH --partition=short", "#SBATCH --account=lab", "#SBATCH --qos=low" })
            Assert.Contains(expected, report.Split('\n'));
        Assert.Contains($"report sweep '{dir}' --out-dir '{dir}'", report);
        Assert.True(File.Exists(Path.Combine(dir, "plan.json")));
        Assert.True(Directory.Exists(Path.Combine(dir, "slurm")));

        // Run the array script as Slurm runs task 1 of 3: shard 1/3 of the 12 points is 4 points.
        var psi = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = work };
        psi.ArgumentList.Add(Path.Combine(dir, "sweep.sbatch"));
        psi.Environment["SLURM_ARRAY_TASK_ID"] = "1";
        psi.Environment["SLURM_CPUS_PER_TASK"] = "1";
        using (var task = System.Diagnostics.Process.Start(psi)!)
        {
            string err = task.StandardError.ReadToEnd();
            task.WaitForExit();
            Assert.True(task.ExitCode == 0, err);
        }
        var points = File.ReadAllLines(Path.Combine(dir, "points.jsonl"));
        Assert.Equal(4, points.Length);
    }

    [Fact]
    public void Memory_IsTheEstimateAPointPrints_PlusOneGiB()
    {
        // The request is the figure a point of the plan prints (rounded up to whole MiB) plus 1 GiB for the runtime.
        // WF factors the Fisher and solves no kept set: a method-blind estimate (both, as before) asked ~16 MiB more here.
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid");
        var point = CliRunner.Run(work, ["prune", "-c", fixture.Checkpoint, "-m", "wf", "-s", "0.5", "--fisher-samples", "1000",
            "-o", Path.Combine(work, "p.ckpt")]);
        Assert.True(point.ExitCode == 0, point.Stderr);
        var printed = System.Text.RegularExpressions.Regex.Match(point.Stderr + point.Stdout, @"wf: estimated peak memory ([\d,]+) MiB");
        Assert.True(printed.Success, point.Stderr);
        long estimate = long.Parse(printed.Groups[1].Value.Replace(",", "", StringComparison.Ordinal));
        var r = CliRunner.Run(work, ["sweep", "-c", fixture.Checkpoint, "--methods", "wf", "--sparsities", "0.9,0.5", "--fisher-samples", "1000",
            "--out-dir", dir, "-q", "--slurm"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string mem = File.ReadAllText(Path.Combine(dir, "sweep.sbatch")).Split('\n').Single(l => l.StartsWith("#SBATCH --mem=", StringComparison.Ordinal));
        long mib = long.Parse(mem["#SBATCH --mem=".Length..^1]);
        Assert.InRange(mib - 1024, estimate, estimate + 1);
    }

    [Fact]
    public void Submit_CallsSbatch_ForTheArray_ThenTheReportAfteranyIt()
    {
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid"), bin = Path.Combine(work, "bin");
        Directory.CreateDirectory(bin);
        string log = Path.Combine(work, "sbatch.log");
        // A stand-in sbatch: records its arguments, answers job ids 101 then 102 as --parsable does.
        File.WriteAllText(Path.Combine(bin, "sbatch"),
            $"#!/bin/bash\necho \"$*\" >> '{log}'\nn=$(wc -l < '{log}')\necho $((100 + n))\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(bin, "sbatch"), (UnixFileMode)0b111_101_101);
        var env = new Dictionary<string, string> { ["PATH"] = $"{bin}:/usr/bin:/bin" };
        var r = CliRunner.RunWith(env, work, Grid(dir, "--submit"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("submitted array job 101 and report job 102 (afterany:101)", r.Stdout);
        Assert.Equal([$"--parsable {dir}/sweep.sbatch", $"--parsable --dependency=afterany:101 {dir}/report.sbatch"], File.ReadAllLines(log));
        Assert.Contains("#SBATCH --array=0-11", File.ReadAllLines(Path.Combine(dir, "sweep.sbatch")));
    }

    [Theory]
    [InlineData("no-sbatch", "--submit needs sbatch (Slurm's client) on PATH")]
    [InlineData("--time=soon", "--time 'soon' is not a Slurm time limit")]
    [InlineData("--array-tasks=13", "--array-tasks must be 1 to the plan's 12 points")]
    [InlineData("--cpus-per-task=0", "--cpus-per-task must be ≥ 1")]
    [InlineData("--sbatch-option=account", "is not one sbatch option")]
    [InlineData("--partition=a b", "is not a partition name")]
    public void BadSlurmRequest_OneLineError_NothingWritten(string option, string phrase)
    {
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid");
        var before = CliCheckpointFixture.Snapshot(work);
        var r = option == "no-sbatch"
            ? CliRunner.RunWith(new Dictionary<string, string> { ["PATH"] = Path.Combine(work, "empty") }, work, Grid(dir, "--submit"))
            : CliRunner.Run(work, Grid(dir, option));
        BadInputTests.AssertCleanError(r, phrase);
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
    }

    [Fact]
    public void SlurmOptionWithoutSlurm_IsRefused()
    {
        string work = fixture.NewWorkFolder();
        var r = CliRunner.Run(work, "sweep", "-c", fixture.Checkpoint, "--methods", "mp", "--sparsities", "0.5", "--out-dir", Path.Combine(work, "o"), "--submit", "-q");
        BadInputTests.AssertCleanError(r, "--submit applies to --slurm only");
        Assert.Empty(Directory.GetFileSystemEntries(work));
    }
}
