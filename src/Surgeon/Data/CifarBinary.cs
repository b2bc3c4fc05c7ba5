namespace Surgeon.Data;

internal enum CifarVariant { Cifar10, Cifar100 }

/// <summary>
/// Reads the "binary version" of CIFAR-10 and CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html). CIFAR-10:
/// data_batch_1.bin … data_batch_5.bin and test_batch.bin, records of 1 label byte + 3,072 pixel bytes. CIFAR-100:
/// train.bin and test.bin, records of 1 coarse + 1 fine label byte + 3,072 pixel bytes; we use the fine (100-class)
/// labels. Pixels are stored 1,024 red, 1,024 green, 1,024 blue, row-major: already C×H×W = 3×32×32.
/// </summary>
internal static class CifarBinary
{
    public const int Side = 32, ImageBytes = 3 * Side * Side;

    // Per-channel statistics of the training images (of pixel/255), the standard CIFAR normalisation. Code derived
    // from kuangliu/pytorch-cifar often uses stds (0.2023, 0.1994, 0.2010) for CIFAR-10 instead; the difference is
    // a rescaling of the inputs by about 0.8.
    private static readonly float[] Cifar10Mean = [0.4914f, 0.4822f, 0.4465f], Cifar10Std = [0.2470f, 0.2435f, 0.2616f];
    private static readonly float[] Cifar100Mean = [0.5071f, 0.4865f, 0.4409f], Cifar100Std = [0.2673f, 0.2564f, 0.2762f];

    public static IReadOnlyList<float> Means(CifarVariant v) => v == CifarVariant.Cifar10 ? Cifar10Mean : Cifar100Mean;
    public static IReadOnlyList<float> Stds(CifarVariant v) => v == CifarVariant.Cifar10 ? Cifar10Std : Cifar100Std;

    public static int Classes(CifarVariant v) => v == CifarVariant.Cifar10 ? 10 : 100;

    private static string Title(CifarVariant v) => v == CifarVariant.Cifar10 ? "CIFAR-10" : "CIFAR-100";

    /// <summary>
    /// Train and test sets from a folder holding the binary files, or from the folder the official archive unpacks
    /// to inside it (cifar-10-batches-bin, cifar-100-binary).
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test) FromFolder(string folder, CifarVariant variant)
    {
        string title = Title(variant);
        if (!Directory.Exists(folder))
            throw new SurgeonException($"{title} folder not found: {folder}");
        string[] trainFiles = variant == CifarVariant.Cifar10
            ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray()
            : ["train.bin"];
        string testFile = variant == CifarVariant.Cifar10 ? "test_batch.bin" : "test.bin";
        string archiveFolder = Path.Combine(folder, variant == CifarVariant.Cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary");
        if (!File.Exists(Path.Combine(folder, testFile)) && File.Exists(Path.Combine(archiveFolder, testFile)))
            folder = archiveFolder;
        foreach (string file in trainFiles.Append(testFile))
            if (!File.Exists(Path.Combine(folder, file)))
                throw new SurgeonException(
                    $"{folder}: {file} is missing; the {title} binary version has {string.Join(", ", trainFiles)} and {testFile}");
        string name = variant == CifarVariant.Cifar10 ? "cifar10" : "cifar100";
        var train = Read($"{name} (train)", trainFiles.Select(f => Path.Combine(folder, f)), variant);
        var test = Read($"{name} (test)", [Path.Combine(folder, testFile)], variant);
        return (train, test);
    }

    /// <summary>
    /// One dataset from the records of the given files, in file order. Every file's size is checked to be a whole number
    /// of records, and the total (in checked arithmetic) to fit in memory, before any record is read, so the arrays
    /// allocated are exactly the records' size.
    /// </summary>
    public static ImageDataset Read(string name, IEnumerable<string> files, CifarVariant variant)
    {
        int labelBytes = variant == CifarVariant.Cifar10 ? 1 : 2, record = labelBytes + ImageBytes, classes = Classes(variant);
        var paths = files.ToList();
        long records = 0;
        foreach (string file in paths)
        {
            IO.InputFiles.Check(file, Title(variant));
            long length = new FileInfo(file).Length;
            if (length == 0 || length % record != 0)
                throw new SurgeonException(
                    $"{file}: {length} bytes is not a whole number of {record}-byte {Title(variant)} records; the file is truncated or not the binary version");
            records += length / record;
        }
        if (records * ImageBytes > Array.MaxLength)
            throw new SurgeonException($"{name}: {records} {Title(variant)} records are {records * ImageBytes} bytes of pixels, more than Surgeon holds in memory ({Array.MaxLength})");
        var labels = new byte[records];
        var pixels = new byte[records * ImageBytes];
        var buffer = new byte[record];
        long index = 0;
        foreach (string file in paths)
        {
            using var stream = File.OpenRead(file);
            long count = stream.Length / record;
            if (count * record != stream.Length)
                throw new SurgeonException($"{file} changed while it was read");
            for (long r = 0; r < count; r++, index++)
            {
                stream.ReadExactly(buffer);
                byte label = buffer[labelBytes - 1]; // CIFAR-100: the fine label follows the coarse one
                if (label >= classes)
                    throw new SurgeonException(
                        $"{file}: record {r} has label {label}, outside 0..{classes - 1}; is this {Title(variant)}?");
                labels[index] = label;
                buffer.AsSpan(labelBytes).CopyTo(pixels.AsSpan((int)(index * ImageBytes)));
            }
        }
        return new ImageDataset(name, pixels, labels, 3, Side, Side, classes, Means(variant), Stds(variant));
    }
}
