using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Data;

/// <summary>
/// Labelled images held in memory as bytes (N×C×H×W) plus the per-channel normalisation that turns them into network
/// inputs: x = (byte/255 − mean[c]) / std[c].
/// </summary>
public sealed class ImageDataset
{
    /// <summary>One mean and std for every channel (grey-scale sets).</summary>
    public ImageDataset(string name, byte[] pixels, byte[] labels, int channels, int height, int width,
        int numClasses, float mean, float std)
        : this(name, pixels, labels, channels, height, width, numClasses,
            Enumerable.Repeat(mean, Math.Max(channels, 0)).ToArray(), Enumerable.Repeat(std, Math.Max(channels, 0)).ToArray())
    {
    }

    /// <summary>A mean and std per channel (e.g. CIFAR's RGB statistics).</summary>
    public ImageDataset(string name, byte[] pixels, byte[] labels, int channels, int height, int width,
        int numClasses, IReadOnlyList<float> means, IReadOnlyList<float> stds)
    {
        if (labels.Length == 0)
            throw new SurgeonException($"dataset '{name}' is empty");
        long perImage = (long)channels * height * width;
        if (channels <= 0 || height <= 0 || width <= 0 || pixels.LongLength != perImage * labels.Length)
            throw new SurgeonException(
                $"dataset '{name}': {labels.Length} labels but {pixels.LongLength} pixel bytes (expected {perImage * labels.Length})");
        if (means.Count != channels || stds.Count != channels)
            throw new SurgeonException(
                $"dataset '{name}': {channels} channels but {means.Count} means and {stds.Count} standard deviations");
        if (stds.Any(s => !(s > 0) || float.IsInfinity(s)) || means.Any(m => !float.IsFinite(m)))
            throw new SurgeonException($"dataset '{name}': normalisation needs finite means and positive standard deviations");
        foreach (byte l in labels)
            if (l >= numClasses)
                throw new SurgeonException($"dataset '{name}': label {l} is outside 0..{numClasses - 1}");
        Name = name; Pixels = pixels; Labels = labels;
        Channels = channels; Height = height; Width = width; NumClasses = numClasses;
        Means = means.ToArray(); Stds = stds.ToArray();
    }

    /// <summary>A name for messages and reports.</summary>
    public string Name { get; }
    /// <summary>Pixels, N×C×H×W bytes.</summary>
    public byte[] Pixels { get; }
    /// <summary>Class labels, one byte per sample.</summary>
    public byte[] Labels { get; }
    /// <summary>Channels per image.</summary>
    public int Channels { get; }
    /// <summary>Image height.</summary>
    public int Height { get; }
    /// <summary>Image width.</summary>
    public int Width { get; }
    /// <summary>Number of classes.</summary>
    public int NumClasses { get; }
    /// <summary>Per-channel normalisation mean (of pixel/255).</summary>
    public IReadOnlyList<float> Means { get; }
    /// <summary>Per-channel normalisation standard deviation (of pixel/255).</summary>
    public IReadOnlyList<float> Stds { get; }
    /// <summary>Number of samples.</summary>
    public int Count => Labels.Length;
    /// <summary>[channels, height, width].</summary>
    public int[] SampleShape => [Channels, Height, Width];

    /// <summary>
    /// Normalised inputs N×C×H×W (float32) and int64 labels for the given sample indices; with
    /// <paramref name="augment"/>, each image is randomly cropped and flipped first (training only).
    /// </summary>
    internal (Tensor Inputs, Tensor Labels) Batch(ReadOnlySpan<int> indices, Device? device = null, RandomCropFlip? augment = null)
    {
        int plane = Height * Width, per = Channels * plane;
        var x = new float[(long)indices.Length * per];
        var y = new long[indices.Length];
        var scale = new float[Channels];
        var shift = new float[Channels];
        for (int c = 0; c < Channels; c++)
        {
            scale[c] = 1f / (255f * Stds[c]);
            shift[c] = Means[c] / Stds[c];
        }
        var buffer = augment is null ? null : new byte[per];
        for (int i = 0; i < indices.Length; i++)
        {
            int idx = indices[i];
            if ((uint)idx >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"sample {idx} outside 0..{Count - 1}");
            ReadOnlySpan<byte> image = Pixels.AsSpan(idx * per, per);
            if (augment is not null)
            {
                augment.Apply(image, buffer, Channels, Height, Width);
                image = buffer;
            }
            int dst = i * per;
            for (int c = 0; c < Channels; c++)
            {
                float sc = scale[c], sh = shift[c];
                for (int p = c * plane; p < (c + 1) * plane; p++)
                    x[dst + p] = image[p] * sc - sh;
            }
            y[i] = Labels[idx];
        }
        var inputs = torch.tensor(x, [indices.Length, Channels, Height, Width]);
        var labels = torch.tensor(y);
        if (device is not null && device.type != DeviceType.CPU)
        {
            inputs = inputs.to(device);
            labels = labels.to(device);
        }
        return (inputs, labels);
    }

    /// <summary>The first <paramref name="count"/> samples of a seeded permutation (a reproducible random subset).</summary>
    public int[] RandomSubset(int count, int seed)
    {
        if (count > Count)
            throw new SurgeonException($"asked for {count} samples but dataset '{Name}' has only {Count}");
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        return order[..count];
    }

    /// <summary>
    /// A reproducible class-balanced subset: <paramref name="count"/> indices, ⌊count/C⌋ per class (the remainder going
    /// to the first classes), each class's share drawn by a seeded shuffle; returned in ascending order.
    /// </summary>
    public int[] BalancedSubset(int count, int seed)
    {
        if (count <= 0 || count > Count)
            throw new SurgeonException($"a subset of {count} samples is not possible: dataset '{Name}' has {Count}");
        var byClass = Enumerable.Range(0, NumClasses).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < Count; i++) byClass[Labels[i]].Add(i);
        var rng = new Random(seed);
        var chosen = new List<int>(count);
        for (int c = 0; c < NumClasses; c++)
        {
            int want = count / NumClasses + (c < count % NumClasses ? 1 : 0);
            if (want > byClass[c].Count)
                throw new SurgeonException(
                    $"a class-balanced subset of {count} samples needs {want} of class {c}, but dataset '{Name}' has {byClass[c].Count}");
            var members = byClass[c].ToArray();
            rng.Shuffle(members);
            chosen.AddRange(members[..want]);
        }
        chosen.Sort();
        return chosen.ToArray();
    }

    /// <summary>A new dataset holding only the samples at <paramref name="indices"/> (same normalisation).</summary>
    public ImageDataset Subset(int[] indices, string name)
    {
        int perImage = Channels * Height * Width;
        var pixels = new byte[(long)indices.Length * perImage];
        var labels = new byte[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            int idx = indices[i];
            if (idx < 0 || idx >= Count)
                throw new ArgumentOutOfRangeException(nameof(indices), idx, $"index outside 0..{Count - 1}");
            Array.Copy(Pixels, (long)idx * perImage, pixels, (long)i * perImage, perImage);
            labels[i] = Labels[idx];
        }
        return new ImageDataset(name, pixels, labels, Channels, Height, Width, NumClasses, Means, Stds);
    }

    /// <summary>Samples per class, for summaries and tests.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (byte l in Labels) counts[l]++;
        return counts;
    }
}
