using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Data;

/// <summary>
/// Labelled images held in memory as bytes (N×C×H×W) plus the normalisation that turns them into network inputs:
/// x = (byte/255 − mean) / std.
/// </summary>
public sealed class ImageDataset
{
    public ImageDataset(string name, byte[] pixels, byte[] labels, int channels, int height, int width,
        int numClasses, float mean, float std)
    {
        if (labels.Length == 0)
            throw new SurgeonException($"dataset '{name}' is empty");
        long perImage = (long)channels * height * width;
        if (perImage <= 0 || pixels.LongLength != perImage * labels.Length)
            throw new SurgeonException(
                $"dataset '{name}': {labels.Length} labels but {pixels.LongLength} pixel bytes (expected {perImage * labels.Length})");
        foreach (byte l in labels)
            if (l >= numClasses)
                throw new SurgeonException($"dataset '{name}': label {l} is outside 0..{numClasses - 1}");
        Name = name; Pixels = pixels; Labels = labels;
        Channels = channels; Height = height; Width = width; NumClasses = numClasses; Mean = mean; Std = std;
    }

    public string Name { get; }
    public byte[] Pixels { get; }
    public byte[] Labels { get; }
    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public int NumClasses { get; }
    public float Mean { get; }
    public float Std { get; }
    public int Count => Labels.Length;
    public int[] SampleShape => [Channels, Height, Width];

    /// <summary>Normalised inputs N×C×H×W (float32) and int64 labels for the given sample indices.</summary>
    public (Tensor Inputs, Tensor Labels) Batch(ReadOnlySpan<int> indices, Device? device = null)
    {
        int per = Channels * Height * Width;
        var x = new float[(long)indices.Length * per];
        var y = new long[indices.Length];
        float scale = 1f / (255f * Std), shift = Mean / Std;
        for (int i = 0; i < indices.Length; i++)
        {
            int idx = indices[i];
            if ((uint)idx >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), $"sample {idx} outside 0..{Count - 1}");
            int src = idx * per, dst = i * per;
            for (int p = 0; p < per; p++)
                x[dst + p] = Pixels[src + p] * scale - shift;
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

    /// <summary>Samples per class, for summaries and tests.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[NumClasses];
        foreach (byte l in Labels) counts[l]++;
        return counts;
    }
}
