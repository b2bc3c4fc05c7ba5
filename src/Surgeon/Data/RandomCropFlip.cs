namespace Surgeon.Data;

/// <summary>
/// Training augmentation as in the CIFAR recipes (torchvision RandomCrop(size, padding) then RandomHorizontalFlip):
/// pad the image by <see cref="Padding"/> pixels of value 0 on every side, crop a random window of the original size,
/// and mirror it left-right with probability ½. Works on the raw bytes before normalisation, so the padding is black
/// (byte 0), as torchvision pads the PIL image. Deterministic: the draws come from a <see cref="Random"/> seeded
/// once, so the same seed and the same sequence of calls give the same images. Digits and Fashion-MNIST are usually
/// trained without flips: turn <see cref="Flip"/> off for them.
/// </summary>
internal sealed class RandomCropFlip
{
    private readonly Random rng;

    public RandomCropFlip(int padding = 4, bool flip = true, int seed = 0)
    {
        if (padding < 0)
            throw new SurgeonException($"crop padding must be ≥ 0, got {padding}");
        Padding = padding;
        Flip = flip;
        rng = new Random(seed);
    }

    public int Padding { get; }
    public bool Flip { get; }

    /// <summary>Writes an augmented copy of one C×H×W image from <paramref name="source"/> into <paramref name="target"/>.</summary>
    public void Apply(ReadOnlySpan<byte> source, Span<byte> target, int channels, int height, int width)
    {
        int size = channels * height * width;
        if (source.Length != size || target.Length != size)
            throw new ArgumentException($"image buffers must hold {channels}×{height}×{width} = {size} bytes");
        // Output pixel (y, x) is original pixel (y + dy, x' + dx), x' = x or its mirror; outside the image it is 0.
        int dy = rng.Next(2 * Padding + 1) - Padding, dx = rng.Next(2 * Padding + 1) - Padding;
        bool mirror = Flip && rng.Next(2) == 1;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
            {
                int sy = y + dy, row = (c * height + y) * width;
                for (int x = 0; x < width; x++)
                {
                    int sx = (mirror ? width - 1 - x : x) + dx;
                    target[row + x] = sy >= 0 && sy < height && sx >= 0 && sx < width
                        ? source[(c * height + sy) * width + sx]
                        : (byte)0;
                }
            }
    }
}
