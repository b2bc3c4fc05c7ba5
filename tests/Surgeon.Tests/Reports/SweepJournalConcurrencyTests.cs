using Surgeon.IO;
using Surgeon.Pruning;
using Surgeon.Reports;

namespace Surgeon.Tests.Reports;

/// <summary>
/// Appends from many writers at once (each with its own file handles, as separate processes have) lose no line and
/// glue none together; the exclusive lock behind them refuses a second holder until the first lets go.
/// </summary>
public class SweepJournalConcurrencyTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("journal-concurrent-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void ConcurrentAppends_KeepEveryLineWhole()
    {
        string path = Path.Combine(dir, "points.jsonl");
        const int writers = 8, each = 40;
        Parallel.For(0, writers, new ParallelOptions { MaxDegreeOfParallelism = writers }, w =>
        {
            var journal = new SweepJournal(path, "k", Path.Combine(dir, "journal.lock"));
            for (int i = 0; i < each; i++)
                journal.Append(new SweepPoint($"m{w}", 0.5, i, 0.5, 0.9, 0.3, 1.0));
        });
        var (points, warning) = new SweepJournal(path, "k").Load();
        Assert.Null(warning);
        Assert.Equal(writers * each, File.ReadAllLines(path).Length);
        Assert.Equal(writers * each, points.Select(p => (p.Method, p.Seed)).Distinct().Count());
    }

    [Fact]
    public void ExclusiveLock_RefusesASecondHolder_UntilReleased_AndNamesTheHolder()
    {
        string path = Path.Combine(dir, "0001.lock");
        using (var first = ExclusiveFileLock.TryAcquire(path, recordHolder: true))
        {
            Assert.NotNull(first);
            Assert.Null(ExclusiveFileLock.TryAcquire(path));
            var (held, holder) = ExclusiveFileLock.Probe(path);
            Assert.True(held);
            Assert.StartsWith($"pid {Environment.ProcessId} on {Environment.MachineName} since ", holder);
            Assert.Throws<SurgeonException>(() => ExclusiveFileLock.Acquire(path, TimeSpan.FromMilliseconds(50)));
        }
        Assert.False(ExclusiveFileLock.Probe(path).Held);
        using var second = ExclusiveFileLock.TryAcquire(path);
        Assert.NotNull(second);
    }
}
