using System.Diagnostics;
using Surgeon.IO;

namespace Surgeon.Tests.IO;

public class AtomicFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("atomic-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Write_RemovesTheTemporaryFileOfADeadWriter_AndKeepsThatOfALiveOne()
    {
        int deadPid;
        using (var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
        {
            p.WaitForExit();
            deadPid = p.Id;
        }
        string dead = Path.Combine(dir, $".report.tmp-{deadPid}-{Guid.NewGuid():N}.md");
        string live = Path.Combine(dir, $".report.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}.md");
        string other = Path.Combine(dir, $".other.tmp-{deadPid}-{Guid.NewGuid():N}.md");
        foreach (string f in new[] { dead, live, other })
            File.WriteAllText(f, "half");
        AtomicFile.WriteAllText(Path.Combine(dir, "report.md"), "whole\n");
        Assert.Equal("whole\n", File.ReadAllText(Path.Combine(dir, "report.md")));
        Assert.False(File.Exists(dead));
        Assert.True(File.Exists(live)); // a running writer's file is left alone
        Assert.True(File.Exists(other)); // as is another target's
    }

    [Fact]
    public void EnsureWritable_NamesTheProblem_AndCreatesNothing()
    {
        string file = Path.Combine(dir, "a.txt");
        File.WriteAllText(file, "x");
        Assert.Contains("it is a folder", Assert.Throws<SurgeonException>(() => AtomicFile.EnsureWritable(dir)).Message);
        Assert.Contains("it is a file", Assert.Throws<SurgeonException>(() => AtomicFile.EnsureWritable(file, isFolder: true)).Message);
        Assert.Contains("is a file, not a folder",
            Assert.Throws<SurgeonException>(() => AtomicFile.EnsureWritable(Path.Combine(file, "b", "c.ckpt"))).Message);
        AtomicFile.EnsureWritable(Path.Combine(dir, "new", "deeper", "c.ckpt"));
        AtomicFile.EnsureWritable(Path.Combine(dir, "out"), isFolder: true);
        Assert.Equal([file], Directory.GetFileSystemEntries(dir));
        Assert.Throws<SurgeonException>(() => AtomicFile.WriteAllText(dir, "x"));
    }
}
