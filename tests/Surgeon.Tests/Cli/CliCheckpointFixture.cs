using Surgeon.Data;

namespace Surgeon.Tests.Cli;

/// <summary>
/// What the child-process CLI tests share, made once: a tiny trained MLPNet checkpoint on the embedded digits (one
/// epoch on 500 images, with its sidecar, dynamics CSV and PNG) and two small IDX folders (28×28 and 6×6 images).
/// Tests read these and copy them before corrupting anything.
/// </summary>
public sealed class CliCheckpointFixture : IDisposable
{
    public CliCheckpointFixture()
    {
        // CreateTempSubdirectory makes the root 0700; the unreadable-input cases run the CLI as another user when the
        // tests run as root (CliRunner.RunUnprivileged), and that user must reach the case folders below it.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(Root, (UnixFileMode)0b111_101_101);
        Directory.CreateDirectory(Good);
        var r = CliRunner.Run(Root, "train", "--epochs", "1", "--train-subset", "500", "--dynamics-samples", "0", "--seed", "1",
            "--out", Checkpoint, "--quiet");
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"training the fixture checkpoint failed: {r.Stderr}");
        WriteIdxFolder(Data, side: 28, train: 200, test: 80);
        WriteIdxFolder(SmallData, side: 6, train: 64, test: 32);
    }

    public string Root { get; } = Directory.CreateTempSubdirectory("cli-fixture-").FullName;
    public string Good => Path.Combine(Root, "good");
    public string Checkpoint => Path.Combine(Good, "m.ckpt");
    public string Sidecar => Checkpoint + ".json";
    public string DynamicsCsv => Checkpoint + ".dynamics.csv";
    public string Png => Checkpoint + ".dynamics.png";
    /// <summary>1×28×28 images, 4 classes, 200 train / 80 test: fits the checkpoint, and is small.</summary>
    public string Data => Path.Combine(Good, "data");
    /// <summary>1×6×6 images: does not fit the checkpoint.</summary>
    public string SmallData => Path.Combine(Good, "small");

    /// <summary>A fresh, empty folder for one test case.</summary>
    public string NewWorkFolder() => Directory.CreateDirectory(Path.Combine(Root, "case-" + Guid.NewGuid().ToString("N")[..12])).FullName;

    /// <summary>
    /// Every file and folder below <paramref name="folder"/>, to compare before and after a run: a regular file with its
    /// size and SHA-256 (so an input changed in place is caught), a device with its major:minor numbers (so one replaced
    /// by a file, or by another device, is caught), a FIFO, socket or symbolic link by its kind (never opened).
    /// </summary>
    public static IReadOnlyList<string> Snapshot(string folder) =>
        Directory.GetFileSystemEntries(folder, "*", SearchOption.AllDirectories)
            .Select(p => $"{Path.GetRelativePath(folder, p)} {Describe(p)}")
            .Order(StringComparer.Ordinal)
            .ToList();

    private static string Describe(string path)
    {
        var node = Surgeon.IO.FileNode.Of(path);
        return node.Kind switch
        {
            Surgeon.IO.FileKind.Regular => $"{new FileInfo(path).Length} bytes, sha256 {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)))}",
            Surgeon.IO.FileKind.CharacterDevice or Surgeon.IO.FileKind.BlockDevice => $"{node.Kind} {node.RdevMajor}:{node.RdevMinor}",
            Surgeon.IO.FileKind.SymbolicLink => $"link to {new FileInfo(path).LinkTarget}",
            _ => node.Kind.ToString(),
        };
    }

    public static void WriteIdxFolder(string folder, int side, int train, int test)
    {
        var a = TestModels.RandomImages(train, 1, side, side, 4, seed: 1);
        var b = TestModels.RandomImages(test, 1, side, side, 4, seed: 2);
        IdxFile.Write(Path.Combine(folder, "train-images-idx3-ubyte.gz"), new IdxArray([a.Count, side, side], a.Pixels), gzip: true);
        IdxFile.Write(Path.Combine(folder, "train-labels-idx1-ubyte.gz"), new IdxArray([a.Count], a.Labels), gzip: true);
        IdxFile.Write(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), new IdxArray([b.Count, side, side], b.Pixels), gzip: true);
        IdxFile.Write(Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"), new IdxArray([b.Count], b.Labels), gzip: true);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class CliCheckpointCollection : ICollectionFixture<CliCheckpointFixture>
{
    public const string Name = "cli-checkpoint";
}
