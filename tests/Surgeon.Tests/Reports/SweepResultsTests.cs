using Surgeon.Pruning;
using Surgeon.Reports;
using Surgeon.Training;

namespace Surgeon.Tests.Reports;

public class SweepResultsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sweep-results-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Journal_KeepsTheLastSweep_AndGivesTheHandComputedTable()
    {
        string journal = Write("s/points.jsonl", SweepFiles.Journal());

        var results = SweepResults.Read(Path.Combine(dir, "s")); // the folder: no sweep.json, so its journal
        Assert.Equal(journal, results.Source);
        Assert.Null(results.Dense);
        Assert.Equal(4, results.Points.Count); // the "old" sweep's point and the cut line are left out
        Assert.Contains("left out 1 of 1 earlier sweep(s)", results.Note);

        var report = SweepMerge.Merge([(null, results)]);
        Assert.Equal(SweepFiles.JournalTable, Lines(report.ToMarkdown()));
    }

    [Fact]
    public void Journal_WithAGivenDenseAccuracy_HasADenseRow()
    {
        var results = SweepResults.Read(Write("points.jsonl", SweepFiles.Journal()));
        var report = SweepMerge.Merge([(null, results)], denseAccuracy: 0.97);
        Assert.Equal("| dense | 97.00 | 97.00 |", Lines(report.ToMarkdown())[2]);
        Assert.Contains("\"loss\": \"NaN\"", report.ToJson()); // an unknown loss, written so it reads back
    }

    [Fact]
    public void FinishedSweep_ReadsBackFromItsFolder_ToTheSameTablesAndPoints()
    {
        var points = new List<SweepPoint>
        {
            new("mp", 0.5, 0, 0.5, 0.91, 0.3, 0.1), new("mp", 0.5, 1, 0.5, 0.89, 0.31, 0.1),
            new("cbs", 0.5, 0, 0.5, 0.93, 0.25, 2.5), new("cbs", 0.95, 0, 0.95, 0.41, 1.7, 3.5),
        };
        var original = new SweepReport(new EvalResult(0.943, 0.2, 2000), points, new Dictionary<string, string> { ["methods"] = "mp,cbs" });
        string folder = Path.Combine(dir, "finished");
        original.WriteAll(folder);

        var results = SweepResults.Read(folder);
        Assert.Equal(Path.Combine(folder, "sweep.json"), results.Source);
        Assert.Equal(0.943, results.Dense!.Accuracy);
        Assert.Equal(points, results.Points);
        Assert.Equal("mp,cbs", results.Config["methods"]);
        var rebuilt = SweepMerge.Merge([(null, results)]);
        Assert.Equal(original.ToMarkdown(), rebuilt.ToMarkdown());
        Assert.Equal(original.ToCsv(), rebuilt.ToCsv());
        Assert.Equal(original.ToSummaryCsv(), rebuilt.ToSummaryCsv());
    }

    [Fact]
    public void Merge_SameMethodInTwoSweeps_NeedsLabels_ThenGetsAColumnEach()
    {
        var a = SweepResults.Read(Write("a.jsonl", SweepFiles.SingleMethodJournal("mp", 0.9)));
        var b = SweepResults.Read(Write("b.jsonl", SweepFiles.SingleMethodJournal("mp", 0.8)));

        var e = Assert.Throws<SurgeonException>(() => SweepMerge.Merge([(null, a), (null, b)]));
        Assert.Contains("both hold mp at sparsity 0.5 (seed 0)", e.Message);

        var report = SweepMerge.Merge([("run a", a), ("run b", b)]);
        Assert.Equal(
        [
            "| sparsity | mp (run a) | mp (run b) |",
            "|---|---|---|",
            "| 0.5 | 90.00 | 80.00 |",
            "| 0.9 | 70.00 | 60.00 |",
        ], Lines(report.ToMarkdown()));
        Assert.Equal(2, SweepPlot.Build(report).GetPlottables().OfType<ScottPlot.Plottables.Scatter>().Count());
    }

    [Fact]
    public void Merge_TakesTheDenseAccuracyTheSourcesShare_AndRefusesTwoDifferentOnes()
    {
        var mp = SweepResults.Read(Write("mp/sweep.json", SweepFiles.ReportJson("mp", 0.95)));
        var wf = SweepResults.Read(Write("wf/sweep.json", SweepFiles.ReportJson("wf", 0.95)));
        var journal = SweepResults.Read(Write("cbs.jsonl", SweepFiles.SingleMethodJournal("cbs", 0.9)));
        var merged = SweepMerge.Merge([(null, mp), (null, wf), (null, journal)]);
        Assert.Equal(0.95, merged.Dense!.Accuracy);
        Assert.Equal(["mp", "wf", "cbs"], merged.Methods);
        Assert.Contains("mp/sweep.json; ", merged.Config["sources"]);

        var other = SweepResults.Read(Write("other/sweep.json", SweepFiles.ReportJson("cbs", 0.90)));
        var e = Assert.Throws<SurgeonException>(() => SweepMerge.Merge([(null, mp), (null, other)]));
        Assert.Contains("dense accuracy of 95.00 % but", e.Message);
        e = Assert.Throws<SurgeonException>(() => SweepMerge.Merge([(null, mp)], denseAccuracy: 0.9));
        Assert.Contains("drop --dense-accuracy", e.Message);
    }

    [Theory]
    [InlineData("missing.jsonl", null, "sweep results not found")]
    [InlineData("empty", "", "holds neither sweep.json nor points.jsonl")]
    [InlineData("garbage/sweep.json", "{ not json", "is not a sweep.json written by 'surgeon sweep'")]
    [InlineData("other.json", "{\"config\": {}}", "it has no list of points")]
    [InlineData("cut.jsonl", "{\"key\":\"k\",\"po", "has no sweep points")]
    [InlineData("points.csv", "method,sparsity\n", "is neither a sweep.json nor a points.jsonl")]
    public void BadSources_AreRefusedWithTheReason(string name, string? content, string phrase)
    {
        string path = Path.Combine(dir, name);
        if (content == "") Directory.CreateDirectory(path);
        else if (content is not null) Write(name, content);
        var e = Assert.Throws<SurgeonException>(() => SweepResults.Read(path));
        Assert.Contains(phrase, e.Message);
    }
}
