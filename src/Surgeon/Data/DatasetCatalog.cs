using System.Reflection;

namespace Surgeon.Data;

/// <summary>
/// Resolves a <c>--data</c> value: <c>digits</c> (the 10,000 real MNIST digits embedded in the library, the default),
/// <c>fashion-mnist</c> (the Debian package dataset-fashion-mnist), <c>cifar10:PATH</c> or <c>cifar100:PATH</c> (a folder
/// holding the CIFAR binary version, see <see cref="CifarBinary"/>), or a path to a folder of IDX files.
/// </summary>
internal static class DatasetCatalog
{
    public const string Digits = "digits";
    public const string FashionMnist = "fashion-mnist";
    public const string FashionMnistFolder = "/usr/share/datasets/fashion-mnist";
    public const string Cifar10Prefix = "cifar10:", Cifar100Prefix = "cifar100:";

    // torchvision's MNIST normalisation, as used by the CBS and WoodFisher code.
    public const float MnistMean = 0.1307f, MnistStd = 0.3081f;
    public const float FashionMean = 0.2860f, FashionStd = 0.3530f;

    /// <summary>The folders whose files a <c>--data</c> value reads (none for the embedded digits), so that no output
    /// of the same run may replace one of them.</summary>
    public static IReadOnlyList<string> Folders(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec) || spec.Equals(Digits, StringComparison.OrdinalIgnoreCase)) return [];
        if (spec.Equals(FashionMnist, StringComparison.OrdinalIgnoreCase)) return [FashionMnistFolder];
        if (spec.StartsWith(Cifar10Prefix, StringComparison.OrdinalIgnoreCase))
            return [spec[Cifar10Prefix.Length..], Path.Combine(spec[Cifar10Prefix.Length..], "cifar-10-batches-bin")];
        if (spec.StartsWith(Cifar100Prefix, StringComparison.OrdinalIgnoreCase))
            return [spec[Cifar100Prefix.Length..], Path.Combine(spec[Cifar100Prefix.Length..], "cifar-100-binary")];
        return [spec];
    }

    public static (ImageDataset Train, ImageDataset Test) Load(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
            throw new SurgeonException("--data is empty: give 'digits', 'fashion-mnist', 'cifar10:PATH', 'cifar100:PATH' or a folder of IDX files");
        if (spec.Equals(Digits, StringComparison.OrdinalIgnoreCase))
            return LoadEmbeddedDigits();
        foreach (var (prefix, variant) in new[] { (Cifar10Prefix, CifarVariant.Cifar10), (Cifar100Prefix, CifarVariant.Cifar100) })
            if (spec.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                string folder = spec[prefix.Length..];
                if (string.IsNullOrWhiteSpace(folder))
                    throw new SurgeonException($"--data {spec}: give the folder of the binary files after the colon, e.g. {prefix}/data/cifar");
                return CifarBinary.FromFolder(folder, variant);
            }
        if (spec.Equals(FashionMnist, StringComparison.OrdinalIgnoreCase))
        {
            if (!Directory.Exists(FashionMnistFolder))
                throw new SurgeonException(
                    $"Fashion-MNIST not found in {FashionMnistFolder}: install it with 'apt-get install dataset-fashion-mnist'");
            return IdxDataset.FromFolder(FashionMnistFolder, FashionMnist, FashionMean, FashionStd);
        }
        if (Directory.Exists(spec))
            return IdxDataset.FromFolder(spec, Path.GetFileName(Path.GetFullPath(spec).TrimEnd('/')), MnistMean, MnistStd);
        if (spec.Equals("cifar10", StringComparison.OrdinalIgnoreCase) || spec.Equals("cifar100", StringComparison.OrdinalIgnoreCase))
            throw new SurgeonException($"--data {spec}: give the folder of the binary files, e.g. {spec}:/data/cifar");
        if (File.Exists(spec))
            throw new SurgeonException($"--data {spec} is a file; give the folder that holds the four IDX files (train-images-idx3-ubyte.gz, ...)");
        if (spec.Contains('/') || spec.Contains(Path.DirectorySeparatorChar) || spec.StartsWith('.'))
            throw new SurgeonException($"data folder not found: {spec}");
        throw new SurgeonException($"unknown dataset '{spec}': use 'digits', 'fashion-mnist', 'cifar10:PATH', 'cifar100:PATH' or a folder of IDX files");
    }

    /// <summary>The embedded digits: 8,000 train / 2,000 test, class-balanced (see data/digits/README.md).</summary>
    public static (ImageDataset Train, ImageDataset Test) LoadEmbeddedDigits()
    {
        IdxArray Resource(string file)
        {
            var asm = typeof(DatasetCatalog).Assembly;
            using var stream = asm.GetManifestResourceStream($"Surgeon.Data.Digits.{file}")
                ?? throw new SurgeonException($"embedded digits resource {file} is missing from {asm.GetName().Name}; rebuild the library");
            return IdxFile.Read(stream, file);
        }
        var train = IdxDataset.FromArrays("digits (train)", Resource("train-images-idx3-ubyte.gz"),
            Resource("train-labels-idx1-ubyte.gz"), MnistMean, MnistStd, 10);
        var test = IdxDataset.FromArrays("digits (test)", Resource("t10k-images-idx3-ubyte.gz"),
            Resource("t10k-labels-idx1-ubyte.gz"), MnistMean, MnistStd, 10);
        return (train, test);
    }
}
