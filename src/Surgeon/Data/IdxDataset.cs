namespace Surgeon.Data;

/// <summary>Builds an <see cref="ImageDataset"/> from a pair of IDX arrays (images N×H×W or N×C×H×W, labels N).</summary>
internal static class IdxDataset
{
    public static ImageDataset FromArrays(string name, IdxArray images, IdxArray labels, float mean, float std, int? numClasses = null)
    {
        if (labels.Dimensions.Length != 1)
            throw new SurgeonException($"{name}: label file must be one-dimensional, got {labels.Dimensions.Length} dimensions");
        if (images.Dimensions.Length is not (3 or 4))
            throw new SurgeonException($"{name}: image file must have 3 (N×H×W) or 4 (N×C×H×W) dimensions, got {images.Dimensions.Length}");
        if (images.Count != labels.Count)
            throw new SurgeonException($"{name}: {images.Count} images but {labels.Count} labels; the files do not belong together");
        if (labels.Count == 0)
            throw new SurgeonException($"{name}: the dataset is empty");
        int c = images.Dimensions.Length == 4 ? images.Dimensions[1] : 1;
        int h = images.Dimensions[^2], w = images.Dimensions[^1];
        int classes = numClasses ?? Math.Max(2, labels.Data.Max() + 1);
        return new ImageDataset(name, images.Data, labels.Data, c, h, w, classes, mean, std);
    }

    /// <summary>
    /// Reads a folder of standard IDX files: train-images/train-labels and t10k-images/t10k-labels (or test-*),
    /// with idx3-ubyte / idx1-ubyte endings, raw or .gz.
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test) FromFolder(string folder, string name, float mean, float std)
    {
        if (!Directory.Exists(folder))
            throw new SurgeonException($"data folder not found: {folder}");
        string Find(string[] prefixes, string what)
        {
            var files = Directory.GetFiles(folder)
                .Where(f => prefixes.Any(p => Path.GetFileName(f).StartsWith(p, StringComparison.OrdinalIgnoreCase)))
                .OrderBy(f => f.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) // prefer raw when both exist
                .ToList();
            return files.Count > 0
                ? files[0]
                : throw new SurgeonException(
                    $"{folder}: no {what} file (expected a name starting with {string.Join(" or ", prefixes)}, e.g. {prefixes[0]}-idx3-ubyte.gz)");
        }
        var trainImages = IdxFile.Read(Find(["train-images"], "training images"));
        var trainLabels = IdxFile.Read(Find(["train-labels"], "training labels"));
        var testImages = IdxFile.Read(Find(["t10k-images", "test-images"], "test images"));
        var testLabels = IdxFile.Read(Find(["t10k-labels", "test-labels"], "test labels"));
        int classes = Math.Max(2, Math.Max(trainLabels.Data.DefaultIfEmpty().Max(), testLabels.Data.DefaultIfEmpty().Max()) + 1);
        var train = FromArrays($"{name} (train)", trainImages, trainLabels, mean, std, classes);
        var test = FromArrays($"{name} (test)", testImages, testLabels, mean, std, classes);
        if (train.SampleShape.AsSpan().SequenceEqual(test.SampleShape) == false)
            throw new SurgeonException($"{folder}: training images are {string.Join('×', train.SampleShape)} but test images are {string.Join('×', test.SampleShape)}");
        return (train, test);
    }
}
