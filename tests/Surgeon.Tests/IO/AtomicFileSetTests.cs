using Surgeon.IO;
using Surgeon.Training;

namespace Surgeon.Tests.IO;

public class AtomicFileSetTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("fileset-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string[] Entries() => Directory.GetFileSystemEntries(dir, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(dir, p)).Order().ToArray();

    [Fact]
    public void Commit_PutsEveryFileInPlace_AndLeavesNoTemporaryFile()
    {
        File.WriteAllText(Path.Combine(dir, "a.md"), "old a\n");
        using (var set = new AtomicFileSet())
        {
            set.WriteText(Path.Combine(dir, "a.md"), "new a\n");
            set.WriteText(Path.Combine(dir, "new", "b.csv"), "b\n");
            Assert.Equal("old a\n", File.ReadAllText(Path.Combine(dir, "a.md"))); // nothing visible before the commit
            Assert.False(File.Exists(Path.Combine(dir, "new", "b.csv")));
            set.Commit();
        }
        Assert.Equal("new a\n", File.ReadAllText(Path.Combine(dir, "a.md")));
        Assert.Equal("b\n", File.ReadAllText(Path.Combine(dir, "new", "b.csv")));
        Assert.Equal(["a.md", "new", Path.Combine("new", "b.csv")], Entries());
    }

    [Fact]
    public void Commit_ThatFailsOnTheSecondFile_RestoresTheFirst_AndDeletesEveryTemporaryFile()
    {
        string a = Path.Combine(dir, "a.md"), b = Path.Combine(dir, "b.csv");
        File.WriteAllText(a, "old a\n");
        using var set = new AtomicFileSet();
        set.WriteText(a, "new a\n");
        set.WriteText(b, "new b\n");
        Directory.CreateDirectory(b); // something else takes the second name before the commit

        var e = Assert.Throws<SurgeonException>(set.Commit);

        Assert.Contains("b.csv: it is a folder", e.Message);
        Assert.Equal("old a\n", File.ReadAllText(a)); // the first rename was undone: the old file is back
        Assert.Equal(["a.md", "b.csv"], Entries()); // no temporary or backup file
        Assert.True(Directory.Exists(b));
    }

    [Fact]
    public void Dispose_WithoutCommit_DeletesTheTemporaryFiles_AndTheFoldersMadeForThem()
    {
        using (var set = new AtomicFileSet())
        {
            set.WriteText(Path.Combine(dir, "x", "y", "a.md"), "a\n");
            set.Reserve(Path.Combine(dir, "b.csv"));
            Assert.NotEmpty(Entries());
        }
        Assert.Empty(Entries());
    }

    [Fact]
    public void Reserve_RefusesToReplaceAFolderOrAFifo()
    {
        string fifo = Path.Combine(dir, "fifo");
        Cli.BadInputTests.MakeNode(fifo, "p");
        using var set = new AtomicFileSet();
        Assert.Contains("it is a folder", Assert.Throws<SurgeonException>(() => set.Reserve(dir)).Message);
        Assert.Contains("it is a FIFO (named pipe), not a regular file", Assert.Throws<SurgeonException>(() => set.Reserve(fifo)).Message);
        Assert.Contains("FIFO", Assert.Throws<SurgeonException>(() => AtomicFile.WriteAllText(fifo, "x")).Message);
        Assert.Equal(FileKind.Fifo, FileNode.Of(fifo).Kind);
    }

    [Fact]
    public void CheckpointSave_WhoseSidecarPathIsAFolder_LeavesNoWeightsFile()
    {
        string path = Path.Combine(dir, "m.ckpt");
        Directory.CreateDirectory(Checkpoint.SidecarPath(path));
        using var model = TestModels.TinyMlp();
        var info = new CheckpointInfo { Architecture = "mlpnet", InputShape = [1, 28, 28], NumClasses = 10, Dataset = "digits" };

        var e = Assert.Throws<SurgeonException>(() => Checkpoint.Save(path, model, info));

        Assert.Contains("m.ckpt.json: it is a folder", e.Message);
        Assert.Equal(["m.ckpt.json"], Entries()); // before: the weights were renamed into place and left without a sidecar
    }
}
