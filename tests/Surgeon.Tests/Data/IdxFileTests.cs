using System.IO.Compression;
using Surgeon.Data;

namespace Surgeon.Tests.Data;

public class IdxFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("idx-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static IdxArray Images(int n, int seed = 1)
    {
        var data = new byte[n * 4 * 5];
        new Random(seed).NextBytes(data);
        return new IdxArray([n, 4, 5], data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RoundTrip(bool gzip)
    {
        var original = Images(7);
        string path = Path.Combine(dir, gzip ? "a.gz" : "a");
        IdxFile.Write(path, original, gzip);
        var back = IdxFile.Read(path);
        Assert.Equal(original.Dimensions, back.Dimensions);
        Assert.Equal(original.Data, back.Data);
        if (gzip) Assert.Equal(0x1f, File.ReadAllBytes(path)[0]);
    }

    [Fact]
    public void BadMagic_IsRejected()
    {
        string path = Path.Combine(dir, "bad");
        File.WriteAllBytes(path, [1, 2, 8, 1, 0, 0, 0, 1, 5]);
        var e = Assert.Throws<SurgeonException>(() => IdxFile.Read(path));
        Assert.Contains("bad magic", e.Message);
    }

    [Fact]
    public void UnsupportedElementType_IsRejected()
    {
        string path = Path.Combine(dir, "float");
        File.WriteAllBytes(path, [0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        Assert.Contains("not supported", Assert.Throws<SurgeonException>(() => IdxFile.Read(path)).Message);
    }

    [Fact]
    public void TruncatedData_IsRejected()
    {
        string path = Path.Combine(dir, "t");
        IdxFile.Write(path, Images(3), gzip: false);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        Assert.Contains("truncated", Assert.Throws<SurgeonException>(() => IdxFile.Read(path)).Message);
    }

    [Fact]
    public void TruncatedHeader_IsRejected()
    {
        string path = Path.Combine(dir, "h");
        File.WriteAllBytes(path, [0, 0, 8, 3, 0, 0, 0, 1]);
        Assert.Contains("truncated", Assert.Throws<SurgeonException>(() => IdxFile.Read(path)).Message);
    }

    [Fact]
    public void TrailingBytes_AreRejected()
    {
        string path = Path.Combine(dir, "x");
        IdxFile.Write(path, Images(2), gzip: false);
        File.AppendAllText(path, "junk");
        Assert.Contains("unexpected bytes", Assert.Throws<SurgeonException>(() => IdxFile.Read(path)).Message);
    }

    [Fact]
    public void TruncatedGzip_IsRejected()
    {
        string path = Path.Combine(dir, "g.gz");
        IdxFile.Write(path, Images(50), gzip: true);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Throws<SurgeonException>(() => IdxFile.Read(path));
    }

    [Fact]
    public void MissingFile_SaysSo()
    {
        Assert.Contains("not found", Assert.Throws<SurgeonException>(() => IdxFile.Read(Path.Combine(dir, "nope"))).Message);
    }

    [Fact]
    public void LabelImageCountMismatch_IsRejected()
    {
        var labels = new IdxArray([6], [0, 1, 2, 0, 1, 2]);
        var e = Assert.Throws<SurgeonException>(() => IdxDataset.FromArrays("x", Images(5), labels, 0.5f, 0.5f));
        Assert.Contains("5 images but 6 labels", e.Message);
    }

    [Fact]
    public void Folder_IsReadWithStandardNames()
    {
        IdxFile.Write(Path.Combine(dir, "train-images-idx3-ubyte.gz"), Images(6), gzip: true);
        IdxFile.Write(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), new IdxArray([6], [0, 1, 2, 0, 1, 2]), gzip: true);
        IdxFile.Write(Path.Combine(dir, "t10k-images-idx3-ubyte"), Images(3, seed: 2), gzip: false);
        IdxFile.Write(Path.Combine(dir, "t10k-labels-idx1-ubyte"), new IdxArray([3], [2, 1, 0]), gzip: false);
        var (train, test) = DatasetCatalog.Load(dir);
        Assert.Equal(6, train.Count);
        Assert.Equal(3, test.Count);
        Assert.Equal(3, train.NumClasses);
        Assert.Equal([1, 4, 5], train.SampleShape);
    }

    [Fact]
    public void Folder_MissingFile_NamesIt()
    {
        IdxFile.Write(Path.Combine(dir, "train-images-idx3-ubyte.gz"), Images(6), gzip: true);
        var e = Assert.Throws<SurgeonException>(() => DatasetCatalog.Load(dir));
        Assert.Contains("training labels", e.Message);
    }

    [Fact]
    public void UnknownDatasetName_IsRejected()
    {
        Assert.Contains("unknown dataset", Assert.Throws<SurgeonException>(() => DatasetCatalog.Load("cifar-1000")).Message);
    }
}
