using Surgeon.Pruning;
using Surgeon.Reports;

namespace Surgeon.Tests.Reports;

public class SweepJournalTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("journal-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AppendedPoints_AreReloaded_OnlyForTheSameKey_AndACutLineIsIgnored()
    {
        string path = Path.Combine(dir, "points.jsonl");
        var a = new SweepJournal(path, "key-a");
        var p1 = new SweepPoint("mp", 0.5, 0, 0.5, 0.91, 0.3, 1.5);
        var p2 = new SweepPoint("wf", 0.9, 2, 0.9, 0.81, 0.6, 2.5);
        a.Append(p1);
        new SweepJournal(path, "key-b").Append(p2 with { Method = "other" });
        a.Append(p2);
        File.AppendAllText(path, "{\"key\":\"key-a\",\"point\":{\"method\":\"mp\",\"spar"); // a crash mid-write
        Assert.Equal([p1, p2], a.Load());
        Assert.Single(new SweepJournal(path, "key-b").Load());
        Assert.Empty(new SweepJournal(Path.Combine(dir, "none.jsonl"), "key-a").Load());
    }

    [Fact]
    public void AnAppendAfterACutLine_StartsAFreshLine_SoThePointIsKept()
    {
        string path = Path.Combine(dir, "points.jsonl");
        var journal = new SweepJournal(path, "k");
        var p1 = new SweepPoint("mp", 0.5, 0, 0.5, 0.91, 0.3, 1.5);
        var p2 = new SweepPoint("mp", 0.9, 0, 0.9, 0.71, 0.8, 1.0);
        journal.Append(p1);
        File.AppendAllText(path, "{\"key\":\"k\",\"point\":{\"meth"); // killed mid-write
        journal.Append(p2);
        Assert.Equal([p1, p2], journal.Load());
        Assert.Equal(3, File.ReadAllLines(path).Length);
    }
}
