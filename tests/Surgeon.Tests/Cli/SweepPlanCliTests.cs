using System.Text.Json;
using System.Text.Json.Nodes;

namespace Surgeon.Tests.Cli;

/// <summary>
/// A sweep as a plan that many workers share: concurrent worker processes on one plan compute every point exactly once
/// (counted in the journal), the report built from the plan equals the table of the same sweep run in one process, a
/// point another worker holds is skipped and reported as running, and bad plans and parts are refused with one line.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class SweepPlanCliTests(CliCheckpointFixture fixture)
{
    private const string Methods = "mp,wf", Sparsities = "0.3,0.6,0.9", Seeds = "0,1";
    private const int PointCount = 2 * 3 * 2;

    private string[] Grid(string outDir, params string[] extra) =>
        ["sweep", "-c", fixture.Checkpoint, "--methods", Methods, "--sparsities", Sparsities, "--seeds", Seeds, "--fisher-samples", "100",
         "--out-dir", outDir, "-q", .. extra];

    private string Plan(string work, string name = "plan")
    {
        string folder = Path.Combine(work, name);
        var r = CliRunner.Run(work, Grid(folder, "--plan-only"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(Path.Combine(folder, "plan.json")));
        Assert.False(File.Exists(Path.Combine(folder, "points.jsonl")), "planning computed points");
        return folder;
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void ConcurrentWorkers_ComputeEveryPointExactlyOnce(int workers)
    {
        string work = fixture.NewWorkFolder();
        string plan = Plan(work);
        var started = Enumerable.Range(0, workers).Select(_ => CliRunner.StartCollecting(work, "sweep", "--out-dir", plan, "-q")).ToList();
        var results = started.Select(s => s.Finish()).ToList();
        foreach (var r in results) Assert.True(r.ExitCode == 0, r.Stderr);

        // Every line of the journal is a distinct point and every planned point has its line: none computed twice.
        var lines = File.ReadAllLines(Path.Combine(plan, "points.jsonl")).Where(l => l.Length > 0).ToList();
        var points = lines.Select(l => JsonNode.Parse(l)!["point"]!)
            .Select(p => $"{p["method"]} {p["sparsity"]} {p["seed"]}").ToList();
        Assert.Equal(PointCount, lines.Count);
        Assert.Equal(PointCount, points.Distinct().Count());
        // Each worker says how many it computed; together exactly the plan, and (with a 12-point grid) the work was shared.
        var computed = results.Select(r => int.Parse(System.Text.RegularExpressions.Regex.Match(r.Stdout, @"computed (\d+) point").Groups[1].Value)).ToList();
        Assert.Equal(PointCount, computed.Sum());

        if (workers == 2)
        {
            // The report of the plan equals the table of the same sweep run in one process.
            var report = CliRunner.Run(work, "report", "sweep", plan, "--out-dir", plan);
            Assert.True(report.ExitCode == 0, report.Stderr);
            string local = Path.Combine(work, "local");
            var single = CliRunner.Run(work, Grid(local));
            Assert.True(single.ExitCode == 0, single.Stderr);
            Assert.Equal(File.ReadAllText(Path.Combine(local, "sweep.md")), File.ReadAllText(Path.Combine(plan, "sweep.md")));
            Assert.Equal(File.ReadAllText(Path.Combine(local, "summary.csv")), File.ReadAllText(Path.Combine(plan, "summary.csv")));
            Assert.DoesNotContain("have not finished", report.Stderr);
        }
    }

    [Fact]
    public void HeldPoint_IsSkipped_AndReportedAsRunning_ThenFinishedByALaterWorker()
    {
        string work = fixture.NewWorkFolder();
        string plan = Plan(work);
        Directory.CreateDirectory(Path.Combine(plan, "claims"));
        using (var held = Surgeon.IO.ExclusiveFileLock.TryAcquire(Surgeon.Pruning.SweepPlan.ClaimPath(plan, 5), recordHolder: true))
        {
            Assert.NotNull(held);
            var r = CliRunner.Run(work, "sweep", "--out-dir", plan, "--shard", "1/2", "-q");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Contains("computed 5 point(s), skipped 1", r.Stdout); // shard 1/2 is points 1, 3, 5, 7, 9, 11
            Assert.Equal(5, File.ReadAllLines(Path.Combine(plan, "points.jsonl")).Length);
            var report = CliRunner.Run(work, "report", "sweep", plan);
            Assert.True(report.ExitCode == 0, report.Stderr);
            Assert.Contains("7 of 12 planned points have not finished", report.Stderr);
            Assert.Contains($"#5 wf at sparsity 0.9 (seed 0) (running: pid {Environment.ProcessId} on ", report.Stderr);
            Assert.Contains("#0 mp at sparsity 0.3 (seed 0), ", report.Stderr);
        }
        // Released (as the kernel does when a worker dies): a rerun of the same part computes only what is left.
        var again = CliRunner.Run(work, "sweep", "--out-dir", plan, "--point", "5", "-q");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("computed 1 point(s), skipped 0", again.Stdout);
        var rest = CliRunner.Run(work, "sweep", "--out-dir", plan, "-q");
        Assert.Contains("computed 6 point(s), skipped 6", rest.Stdout);
        Assert.Equal(PointCount, File.ReadAllLines(Path.Combine(plan, "points.jsonl")).Length);
    }

    [Fact]
    public void SamePlanAgain_IsKept_AnotherPlanInTheFolder_IsRefused()
    {
        string work = fixture.NewWorkFolder();
        string plan = Plan(work);
        string text = File.ReadAllText(Path.Combine(plan, "plan.json"));
        var again = CliRunner.Run(work, Grid(plan, "--plan-only"));
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(text, File.ReadAllText(Path.Combine(plan, "plan.json")));
        var other = CliRunner.Run(work, ["sweep", "-c", fixture.Checkpoint, "--methods", "mp", "--sparsities", "0.5", "--out-dir", plan, "-q", "--plan-only"]);
        BadInputTests.AssertCleanError(other, "already holds the plan of another sweep");
        Assert.Equal(text, File.ReadAllText(Path.Combine(plan, "plan.json")));
    }

    public static TheoryData<string, string, string[]> BadCases => new()
    {
        { "sparsity", "does not match its digest and settings: the plan was edited by hand", ["sweep", "--out-dir", "{plan}", "-q"] },
        { "digest", "does not match its digest and settings: the plan was edited by hand", ["sweep", "--out-dir", "{plan}", "--point", "0", "-q"] },
        { "options", "does not match its digest and settings: the plan was edited by hand", ["sweep", "--out-dir", "{plan}", "-q"] },
        { "drop-point", "lists 11 points but its settings make 12", ["sweep", "--out-dir", "{plan}", "-q"] },
        { "garbage", "is not a sweep plan written by 'surgeon sweep --plan-only'", ["sweep", "--out-dir", "{plan}", "-q"] },
        { "key", "is not the one the plan in", ["sweep", "--out-dir", "{plan}", "-q"] },
        { "", "--point 12 is out of range: the plan in", ["sweep", "--out-dir", "{plan}", "--point", "12", "-q"] },
        { "", "--point -1 is out of range", ["sweep", "--out-dir", "{plan}", "--point", "-1", "-q"] },
        { "", "--shard '2/2' is not I/N", ["sweep", "--out-dir", "{plan}", "--shard", "2/2", "-q"] },
        { "", "--shard 'x' is not I/N", ["sweep", "--out-dir", "{plan}", "--shard", "x", "-q"] },
        { "", "give --point or --shard, not both", ["sweep", "--out-dir", "{plan}", "--point", "0", "--shard", "0/2", "-q"] },
        { "", "--methods belongs to the plan", ["sweep", "--out-dir", "{plan}", "--methods", "mp", "-q"] },
        { "", "drop --checkpoint", ["sweep", "-c", "{ckpt}", "--out-dir", "{plan}", "--point", "0", "-q"] },
        { "", "no sweep plan at", ["sweep", "--out-dir", "{work}", "-q"] },
        { "", "give --checkpoint to sweep, or --out-dir D", ["sweep", "-q"] },
        { "", "--plan-only needs --checkpoint", ["sweep", "--out-dir", "{plan}", "--plan-only", "-q"] },
    };

    [Theory]
    [MemberData(nameof(BadCases))]
    public void BadPlanOrPart_OneLineError_NothingWritten(string edit, string phrase, string[] args)
    {
        string work = fixture.NewWorkFolder();
        string plan = Plan(work);
        string planFile = Path.Combine(plan, "plan.json");
        var json = JsonNode.Parse(File.ReadAllText(planFile))!;
        switch (edit)
        {
            case "sparsity": json["points"]![3]!["sparsity"] = 0.7; break;
            case "digest": json["points"]![0]!["digest"] = new string('0', 64); break;
            case "options": json["options"]!["fisherSamples"] = 200; break;
            case "drop-point": json["points"]!.AsArray().RemoveAt(11); break;
        }
        if (edit == "key")
        {
            // A consistent plan (its digests recomputed by writing it anew) whose key no longer matches its settings.
            json = JsonNode.Parse(File.ReadAllText(planFile))!;
            json["options"]!["lambda"] = 0.01;
            var plan2 = JsonSerializer.Deserialize<Surgeon.Pruning.SweepPlan>(json.ToJsonString(), new JsonSerializerOptions(JsonSerializerDefaults.Web)
            { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } })!;
            var rebuilt = Surgeon.Pruning.SweepPlan.Create(plan2.Checkpoint, plan2.Data, plan2.Methods, plan2.Sparsities, plan2.Seeds,
                plan2.Options, plan2.Prunable, plan2.RecalibrateBnSamples, plan2.TestSubset, plan2.Key, plan2.DenseAccuracy, plan2.DenseLoss);
            File.WriteAllText(planFile, rebuilt.ToJson());
        }
        else if (edit == "garbage") File.WriteAllText(planFile, "{\"format\": 1, \"points\": [");
        else if (edit != "") File.WriteAllText(planFile, json.ToJsonString());
        var before = CliCheckpointFixture.Snapshot(work);
        var expanded = args.Select(a => a.Replace("{plan}", plan).Replace("{work}", work).Replace("{ckpt}", fixture.Checkpoint)).ToArray();
        var r = CliRunner.Run(work, expanded);
        BadInputTests.AssertCleanError(r, phrase);
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
    }
}
