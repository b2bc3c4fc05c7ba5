using Surgeon.Data;

namespace Surgeon.Tests.Data;

public class RandomCropFlipTests
{
    private const int C = 2, H = 5, W = 6;

    private static byte[] Image() => Enumerable.Range(0, C * H * W).Select(i => (byte)(i + 1)).ToArray(); // no zeros

    private static byte[] Apply(RandomCropFlip augment, byte[] image)
    {
        var target = new byte[image.Length];
        augment.Apply(image, target, C, H, W);
        return target;
    }

    /// <summary>Reference: pad with zeros, crop at (top, left) of the padded image, optionally mirror.</summary>
    private static byte[] Reference(byte[] image, int pad, int top, int left, bool mirror)
    {
        int ph = H + 2 * pad, pw = W + 2 * pad;
        var padded = new byte[C, ph, pw];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    padded[c, y + pad, x + pad] = image[(c * H + y) * W + x];
        var result = new byte[C * H * W];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    result[(c * H + y) * W + (mirror ? W - 1 - x : x)] = padded[c, top + y, left + x];
        return result;
    }

    [Fact]
    public void NoPaddingNoFlip_IsTheIdentity()
    {
        var image = Image();
        Assert.Equal(image, Apply(new RandomCropFlip(0, flip: false, seed: 3), image));
    }

    [Fact]
    public void EveryOutput_IsAPaddedCropOptionallyMirrored_AndAllOfThemOccur()
    {
        const int pad = 2;
        var image = Image();
        var candidates = new List<byte[]>();
        for (int top = 0; top <= 2 * pad; top++)
            for (int left = 0; left <= 2 * pad; left++)
                foreach (bool mirror in new[] { false, true })
                    candidates.Add(Reference(image, pad, top, left, mirror));
        var augment = new RandomCropFlip(pad, flip: true, seed: 5);
        var seen = new HashSet<int>();
        for (int i = 0; i < 2000; i++)
        {
            var output = Apply(augment, image);
            int match = candidates.FindIndex(c => c.AsSpan().SequenceEqual(output));
            Assert.True(match >= 0, "an output is not a zero-padded crop of the image");
            seen.Add(match);
        }
        Assert.Equal(candidates.Count, seen.Count); // 5·5 offsets × 2 mirrorings
    }

    [Fact]
    public void SameSeed_GivesTheSameSequence()
    {
        var image = Image();
        var a = new RandomCropFlip(4, true, seed: 9);
        var b = new RandomCropFlip(4, true, seed: 9);
        var c = new RandomCropFlip(4, true, seed: 10);
        var fromA = Enumerable.Range(0, 20).SelectMany(_ => Apply(a, image)).ToArray();
        Assert.Equal(fromA, Enumerable.Range(0, 20).SelectMany(_ => Apply(b, image)).ToArray());
        Assert.NotEqual(fromA, Enumerable.Range(0, 20).SelectMany(_ => Apply(c, image)).ToArray());
    }

    [Fact]
    public void NegativePadding_IsRejected() =>
        Assert.Contains("crop padding", Assert.Throws<SurgeonException>(() => new RandomCropFlip(-1)).Message);
}
