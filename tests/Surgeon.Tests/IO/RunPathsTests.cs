using Surgeon.IO;
using Surgeon.Training;

namespace Surgeon.Tests.IO;

public class RunPathsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("runpaths-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Message(RunPaths paths) => Assert.Throws<SurgeonException>(paths.Check).Message;

    [Fact]
    public void AnOutputThatIsAnInputByAnyName_IsRefused_AndAnOtherPathIsNot()
    {
        string input = Path.Combine(dir, "m.ckpt"), hard = Path.Combine(dir, "h.ckpt");
        File.WriteAllText(input, "weights");
        File.WriteAllText(Checkpoint.SidecarPath(input), "{}");
        Cli.BadInputTests.MakeNode(Path.Combine(dir, "unused"), "p"); // a FIFO that is neither input nor output
        Assert.True(HardLink(input, hard));
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        RunPaths Reading() => new RunPaths().ReadsCheckpoint(input);

        Assert.Contains("it is the input checkpoint", Message(Reading().Writes(input, "--out")));
        Assert.Contains("it is the input checkpoint", Message(Reading().Writes(Path.Combine(dir, "sub", "..", "m.ckpt"), "--out")));
        Assert.Contains("it is the sidecar of the input checkpoint", Message(Reading().Writes(input + ".json", "--out")));
        Assert.Contains("it is the training dynamics of the input checkpoint", Message(Reading().Writes(input + ".dynamics.csv", "--out")));
        Assert.Contains("under another name (the same file)", Message(Reading().Writes(hard, "--out")));
        // The output's sidecar is the input: the input is named q.json, the output q.
        string q = Path.Combine(dir, "q");
        Assert.Contains("it is the input checkpoint", Message(new RunPaths().ReadsCheckpoint(q + ".json").WritesCheckpoint(q, "--out")));
        // A file written into an output folder.
        Assert.Contains("it is the input checkpoint", Message(Reading().WritesFolder(dir, "--out-dir", ["m.ckpt"])));

        Reading().WritesCheckpoint(Path.Combine(dir, "p.ckpt"), "--out").WritesFolder(dir, "--out-dir", ["sweep.md"]).Check();
    }

    [Fact]
    public void ALinkIsRefusedAsAnOutputFile_ButAcceptedAsAnOutputFolder_AndFollowedAsAnInput()
    {
        string target = Path.Combine(dir, "target.txt"), link = Path.Combine(dir, "link"), folderLink = Path.Combine(dir, "folder-link");
        File.WriteAllText(target, "x");
        File.CreateSymbolicLink(link, target);
        Directory.CreateDirectory(Path.Combine(dir, "real"));
        Directory.CreateSymbolicLink(folderLink, Path.Combine(dir, "real"));

        Assert.Contains("it is a symbolic link", Message(new RunPaths().Writes(link, "--out")));
        new RunPaths().WritesFolder(folderLink, "--out-dir", ["sweep.md"]).Check();
        // An output reaching an input through a linked folder is still that input.
        Assert.Contains("it is the input", Message(new RunPaths().Reads(Path.Combine(dir, "real", "a.csv"), "the input").Writes(Path.Combine(folderLink, "a.csv"), "--out")));
        InputFiles.Check(link, "test"); // a link to a regular file reads as that file
    }

    [Fact]
    public void FoldersFifosEmptyPathsAndFilesAsParents_AreRefusedWithoutCreatingAnything()
    {
        string file = Path.Combine(dir, "a.txt"), fifo = Path.Combine(dir, "fifo");
        File.WriteAllText(file, "x");
        Cli.BadInputTests.MakeNode(fifo, "p");
        var before = Directory.GetFileSystemEntries(dir);

        Assert.Contains("--out is empty", Message(new RunPaths().Writes("", "--out")));
        Assert.Contains("--out-dir is empty", Message(new RunPaths().WritesFolder("", "--out-dir", [])));
        Assert.Contains("it is a folder; give a file name", Message(new RunPaths().Writes(dir, "--out")));
        Assert.Contains("it is a file; give a folder", Message(new RunPaths().WritesFolder(file, "--out-dir", [])));
        Assert.Contains("is a file, not a folder", Message(new RunPaths().Writes(Path.Combine(file, "b", "c.ckpt"), "--out")));
        Assert.Contains("it is a FIFO (named pipe), not a regular file", Message(new RunPaths().Writes(fifo, "--out")));
        Assert.Contains("it is a FIFO (named pipe); give a folder", Message(new RunPaths().WritesFolder(fifo, "--out-dir", [])));
        Assert.Contains($"{dir} (the sidecar of --out a): it is a folder", Message(new RunPaths().Writes(Path.Combine(dir, "a"), "--out").Writes(dir, "the sidecar of --out a")));
        Assert.Contains("is a FIFO (named pipe), not a regular file", Assert.Throws<SurgeonException>(() => InputFiles.Check(fifo, "checkpoint")).Message);
        Assert.Contains("path is empty", Assert.Throws<SurgeonException>(() => InputFiles.Check("", "checkpoint")).Message);
        Assert.Equal(before, Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void FileNode_TellsKinds_AndGivesAHardLinkTheSameIdentity()
    {
        string file = Path.Combine(dir, "a"), hard = Path.Combine(dir, "b"), fifo = Path.Combine(dir, "fifo"), link = Path.Combine(dir, "link");
        File.WriteAllText(file, "x");
        Assert.True(HardLink(file, hard));
        Cli.BadInputTests.MakeNode(fifo, "p");
        File.CreateSymbolicLink(link, file);

        Assert.Equal(FileKind.Regular, FileNode.Of(file).Kind);
        Assert.Equal(FileKind.Folder, FileNode.Of(dir).Kind);
        Assert.Equal(FileKind.Fifo, FileNode.Of(fifo).Kind);
        Assert.Equal(FileKind.SymbolicLink, FileNode.Of(link).Kind);
        Assert.Equal(FileKind.Regular, FileNode.Target(link).Kind);
        Assert.Equal(FileKind.Missing, FileNode.Of(Path.Combine(dir, "none")).Kind);
        Assert.Equal(FileKind.CharacterDevice, FileNode.Of("/dev/null").Kind); // only read, never written
        Assert.Equal((1u, 3u), (FileNode.Of("/dev/null").RdevMajor, FileNode.Of("/dev/null").RdevMinor));
        var (a, b) = (FileNode.Of(file), FileNode.Of(hard));
        Assert.True(a.HasIdentity);
        Assert.Equal((a.Device, a.Inode), (b.Device, b.Inode));
        Assert.NotEqual(a.Inode, FileNode.Of(fifo).Inode);
        Assert.Equal(Path.Combine(dir, "a"), FileNode.Resolve(link));
    }

    [Fact]
    public void FolderLock_RefusesASecondHolder_NamingTheFirst_AndLeavesNothingOnRelease()
    {
        string folder = Path.Combine(dir, "new", "sweep");
        using (var first = FolderLock.Acquire(folder, "--out-dir"))
        {
            Assert.True(File.Exists(Path.Combine(folder, FolderLock.FileName)));
            var e = Assert.Throws<SurgeonException>(() => FolderLock.Acquire(folder, "--out-dir"));
            Assert.Contains($"is in use by another surgeon run (pid {Environment.ProcessId}); wait for it to finish or give another --out-dir", e.Message);
        }
        Assert.False(Directory.Exists(Path.Combine(dir, "new"))); // made for the run, left empty: removed
        // A folder that existed, or that the run wrote into, stays; the lock file goes.
        using (FolderLock.Acquire(folder, "--out-dir"))
            File.WriteAllText(Path.Combine(folder, "points.jsonl"), "{}\n");
        Assert.Equal([Path.Combine(folder, "points.jsonl")], Directory.GetFileSystemEntries(folder));
        using (FolderLock.Acquire(folder, "--out-dir")) { }
        Assert.True(Directory.Exists(folder));
    }

    private static bool HardLink(string existing, string name)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("ln", [existing, name]) { UseShellExecute = false })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }
}
