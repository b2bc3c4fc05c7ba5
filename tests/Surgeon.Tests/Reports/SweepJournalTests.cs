using Surgeon.Pruning;
using Surgeon.Reports;

namespace Surgeon.Tests.Reports;

public class SweepJournalTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("journal-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Journal => Path.Combine(dir, "points.jsonl");

    [Fact]
    public void AppendedPoints_AreReloaded_OnlyForTheSameKey_AndACutLastLineIsIgnoredWithAWarning()
    {
        var a = new SweepJournal(Journal, "key-a");
        var p1 = new SweepPoint("mp", 0.5, 0, 0.5, 0.91, 0.3, 1.5);
        var p2 = new SweepPoint("wf", 0.9, 2, 0.9, 0.81, 0.6, 2.5);
        a.Append(p1);
        new SweepJournal(Journal, "key-b").Append(p2 with { Method = "other" });
        a.Append(p2);
        File.AppendAllText(Journal, "{\"key\":\"key-a\",\"point\":{\"method\":\"mp\",\"spar"); // a crash mid-write
        var (points, warning) = a.Load();
        Assert.Equal([p1, p2], points);
        Assert.StartsWith($"{Journal}:4: ignored the last line", warning);
        Assert.Single(new SweepJournal(Journal, "key-b").Load().Points);
        Assert.Empty(new SweepJournal(Path.Combine(dir, "none.jsonl"), "key-a").Load().Points);
    }

    [Fact]
    public void AnAppendAfterACutLine_RemovesTheFragment_SoTheJournalStaysReadable()
    {
        var journal = new SweepJournal(Journal, "k");
        var p1 = new SweepPoint("mp", 0.5, 0, 0.5, 0.91, 0.3, 1.5);
        var p2 = new SweepPoint("mp", 0.9, 0, 0.9, 0.71, 0.8, 1.0);
        journal.Append(p1);
        File.AppendAllText(Journal, "{\"key\":\"k\",\"point\":{\"meth"); // killed mid-write
        journal.Append(p2);
        var (points, warning) = journal.Load();
        Assert.Equal([p1, p2], points);
        Assert.Null(warning);
        Assert.Equal(2, File.ReadAllLines(Journal).Length);
    }

    [Fact]
    public void AnAppendAfterAWholeLineThatLostOnlyItsNewline_KeepsThatLine()
    {
        var journal = new SweepJournal(Journal, "k");
        var p1 = new SweepPoint("mp", 0.5, 0, 0.5, 0.91, 0.3, 1.5);
        var p2 = new SweepPoint("mp", 0.9, 0, 0.9, 0.71, 0.8, 1.0);
        journal.Append(p1);
        File.WriteAllText(Journal, File.ReadAllText(Journal).TrimEnd('\n')); // killed just before the newline
        journal.Append(p2);
        Assert.Equal([p1, p2], journal.Load().Points);
        Assert.Equal(2, File.ReadAllLines(Journal).Length);
    }

    [Fact]
    public void ALossThatIsNotFinite_IsWrittenAsAString_AndReadBack()
    {
        var journal = new SweepJournal(Journal, "k");
        var destroyed = new SweepPoint("wf", 0.5, 0, 0.5, 0.1, double.PositiveInfinity, 1);
        var overflowed = new SweepPoint("wf", 0.9, 0, 0.9, 0.1, double.NaN, 1);
        journal.Append(destroyed);
        journal.Append(overflowed);
        var lines = File.ReadAllLines(Journal);
        Assert.Contains("\"loss\":\"Infinity\"", lines[0]);
        Assert.Contains("\"loss\":\"NaN\"", lines[1]);
        var (points, warning) = journal.Load();
        Assert.Null(warning);
        Assert.True(double.IsPositiveInfinity(points[0].Loss));
        Assert.True(double.IsNaN(points[1].Loss));
        Assert.Equal(0.1, points[1].Accuracy);
    }

    [Fact]
    public void AnImpossiblePoint_IsRefused_BeforeAnythingIsWritten()
    {
        var journal = new SweepJournal(Journal, "k");
        var e = Assert.Throws<SurgeonException>(() => journal.Append(new SweepPoint("mp", 0.5, 0, 0.5, double.NaN, 0.3, 1)));
        Assert.Contains("its accuracy is NaN, not a fraction in [0, 1]", e.Message);
        Assert.False(File.Exists(Journal));
    }

    public static TheoryData<string, string> BadMiddleLines => new()
    {
        { "garbage, not JSON", "not a journal line" },
        { Line(accuracy: "1.5"), "its accuracy is 1.5, not a fraction in [0, 1]" },
        { Line(accuracy: "-0.1"), "its accuracy is -0.1" },
        { Line(accuracy: "\"NaN\""), "its accuracy is NaN" },
        { Line(sparsity: "1"), "its sparsity is 1, not a fraction in [0, 1)" },
        { Line(sparsity: "\"Infinity\""), "its sparsity is Infinity" },
        { Line(loss: "-2"), "its loss is -2, but a loss is never negative" },
        { Line(seconds: "\"-Infinity\""), "its time in seconds is -Infinity" },
        { "{\"key\":\"k\",\"point\":{\"method\":\"mp\",\"sparsity\":0.5}}", "not a journal line" }, // fields missing
        { "{\"key\":\"k\",\"point\":null}", "not a journal line" },
        { "{\"key\":null,\"point\":{}}", "not a journal line" },
        { Line(method: "null"), "not a journal line" },
        { Line(method: "\"\""), "it has no method name" },
    };

    [Theory]
    [MemberData(nameof(BadMiddleLines))]
    public void ABadLineThatIsNotTheLast_IsAnError_NamingFileAndLine(string bad, string phrase)
    {
        File.WriteAllText(Journal, Line() + "\n" + bad + "\n" + Line(sparsity: "0.9") + "\n");
        var e = Assert.Throws<SurgeonException>(() => SweepJournal.ReadAll(Journal));
        Assert.StartsWith($"{Journal}:2: ", e.Message);
        Assert.Contains(phrase, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // The same line as the last one, with its newline, is an error too: only a line without one was cut short.
        File.WriteAllText(Journal, Line() + "\n" + bad + "\n");
        Assert.StartsWith($"{Journal}:2: ", Assert.Throws<SurgeonException>(() => SweepJournal.ReadAll(Journal)).Message);
        // Without its newline it is a write a crash cut short: ignored, with a warning.
        File.WriteAllText(Journal, Line() + "\n" + bad);
        var contents = SweepJournal.ReadAll(Journal);
        Assert.Single(contents.Lines);
        Assert.StartsWith($"{Journal}:2: ignored the last line", contents.Warning);
    }

    [Fact]
    public void ALineThatIsNotUtf8_IsAnError_NamingItsLine()
    {
        File.WriteAllBytes(Journal, [.. System.Text.Encoding.UTF8.GetBytes(Line() + "\n"), 0xFF, 0xFE, (byte)'\n', .. System.Text.Encoding.UTF8.GetBytes(Line() + "\n")]);
        Assert.Equal($"{Journal}:2: not UTF-8 text; each line is one finished point of 'surgeon sweep' (delete a damaged line and a rerun of the sweep recomputes that point)",
            Assert.Throws<SurgeonException>(() => SweepJournal.ReadAll(Journal)).Message);
    }

    [Fact]
    public void TheJournalsAndReportsInDocs_AreRead_WithoutAnError()
    {
        string docs = Path.Combine(RepositoryRoot(), "docs");
        var journals = Directory.GetFiles(docs, "*.jsonl", SearchOption.AllDirectories);
        Assert.NotEmpty(journals);
        foreach (string journal in journals)
        {
            var contents = SweepJournal.ReadAll(journal);
            Assert.Null(contents.Warning);
            Assert.NotEmpty(contents.Lines);
        }
        foreach (string report in Directory.GetFiles(docs, "sweep.json", SearchOption.AllDirectories))
            Assert.NotEmpty(SweepResults.Read(report).Points);
    }

    internal static string RepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Surgeon.sln"))) return d.FullName;
        throw new InvalidOperationException("Surgeon.sln not found above the test binaries");
    }

    /// <summary>A journal line with the given raw JSON values.</summary>
    private static string Line(string method = "\"mp\"", string sparsity = "0.5", string accuracy = "0.9", string loss = "0.3", string seconds = "1") =>
        $"{{\"key\":\"k\",\"point\":{{\"method\":{method},\"sparsity\":{sparsity},\"seed\":0,\"actualSparsity\":0.5,\"accuracy\":{accuracy},\"loss\":{loss},\"seconds\":{seconds}}}}}";
}
