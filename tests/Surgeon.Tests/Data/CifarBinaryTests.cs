using Surgeon.Data;

namespace Surgeon.Tests.Data;

public class CifarBinaryTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cifar-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Record r of a file: label byte(s), then 3,072 pixels whose value encodes (file, record, position).</summary>
    private static byte[] Records(int count, int fileIndex, Func<int, byte[]> labels)
    {
        var bytes = new List<byte>();
        for (int r = 0; r < count; r++)
        {
            bytes.AddRange(labels(r));
            for (int p = 0; p < 3072; p++)
                bytes.Add((byte)(fileIndex * 50 + r * 7 + p % 5));
        }
        return bytes.ToArray();
    }

    private void WriteCifar10(string folder)
    {
        Directory.CreateDirectory(folder);
        for (int f = 1; f <= 5; f++)
            File.WriteAllBytes(Path.Combine(folder, $"data_batch_{f}.bin"), Records(2, f, r => [(byte)(f + r)]));
        File.WriteAllBytes(Path.Combine(folder, "test_batch.bin"), Records(3, 0, r => [(byte)(9 - r)]));
    }

    [Fact]
    public void Cifar10_ReadsRecordsInFileOrder()
    {
        WriteCifar10(dir);
        var (train, test) = CifarBinary.FromFolder(dir, CifarVariant.Cifar10);
        Assert.Equal(10, train.Count);
        Assert.Equal(3, test.Count);
        Assert.Equal([3, 32, 32], train.SampleShape);
        Assert.Equal(10, train.NumClasses);
        Assert.Equal([1, 2, 2, 3, 3, 4, 4, 5, 5, 6], train.Labels);
        Assert.Equal([9, 8, 7], test.Labels);
        // Sample 3 is record 1 of data_batch_2: pixel p = 2·50 + 1·7 + p mod 5.
        Assert.Equal(2 * 50 + 1 * 7 + 1028 % 5, train.Pixels[3 * 3072 + 1028]);
        Assert.Equal([0.4914f, 0.4822f, 0.4465f], train.Means);
        Assert.Equal([0.2470f, 0.2435f, 0.2616f], train.Stds);
    }

    [Fact]
    public void Cifar10_IsFoundInTheArchiveFolderAndThroughTheCatalog()
    {
        WriteCifar10(Path.Combine(dir, "cifar-10-batches-bin"));
        var (train, test) = DatasetCatalog.Load($"cifar10:{dir}");
        Assert.Equal(10, train.Count);
        Assert.Equal(3, test.Count);
    }

    [Fact]
    public void Cifar100_UsesTheFineLabel()
    {
        File.WriteAllBytes(Path.Combine(dir, "train.bin"), Records(4, 1, r => [(byte)(r % 20), (byte)(60 + r)]));
        File.WriteAllBytes(Path.Combine(dir, "test.bin"), Records(2, 2, r => [19, (byte)(99 - r)]));
        var (train, test) = DatasetCatalog.Load($"CIFAR100:{dir}");
        Assert.Equal(100, train.NumClasses);
        Assert.Equal([60, 61, 62, 63], train.Labels);
        Assert.Equal([99, 98], test.Labels);
        Assert.Equal(2 * 50 + 1 * 7 + 2001 % 5, test.Pixels[3072 + 2001]); // both label bytes skipped, pixels intact
    }

    [Fact]
    public void MissingFolderOrFile_IsAClearError()
    {
        string missing = Path.Combine(dir, "nowhere");
        Assert.Contains("CIFAR-10 folder not found", Assert.Throws<SurgeonException>(() => DatasetCatalog.Load($"cifar10:{missing}")).Message);
        WriteCifar10(dir);
        File.Delete(Path.Combine(dir, "data_batch_4.bin"));
        Assert.Contains("data_batch_4.bin is missing", Assert.Throws<SurgeonException>(() => CifarBinary.FromFolder(dir, CifarVariant.Cifar10)).Message);
        Assert.Contains("give the folder", Assert.Throws<SurgeonException>(() => DatasetCatalog.Load("cifar10:")).Message);
        Assert.Contains("give the folder", Assert.Throws<SurgeonException>(() => DatasetCatalog.Load("cifar100")).Message);
    }

    [Fact]
    public void TruncatedFile_IsAClearError()
    {
        WriteCifar10(dir);
        string file = Path.Combine(dir, "test_batch.bin");
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..^10]);
        var e = Assert.Throws<SurgeonException>(() => CifarBinary.FromFolder(dir, CifarVariant.Cifar10));
        Assert.Contains("not a whole number of 3073-byte CIFAR-10 records", e.Message);
    }

    [Fact]
    public void LabelOutOfRange_IsAClearError()
    {
        WriteCifar10(dir);
        File.WriteAllBytes(Path.Combine(dir, "data_batch_2.bin"), Records(2, 2, r => [(byte)(10 + r)]));
        var e = Assert.Throws<SurgeonException>(() => CifarBinary.FromFolder(dir, CifarVariant.Cifar10));
        Assert.Contains("record 0 has label 10, outside 0..9", e.Message);
    }
}
