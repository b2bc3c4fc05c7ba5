using Surgeon.Data;

namespace Surgeon.Tests.Data;

public class ImageDatasetTests
{
    [Fact]
    public void PerChannelNormalisation_UsesEachChannelsMeanAndStd()
    {
        // Two 1×2 images with two channels: pixels 0, 255 in channel 0 and 51, 102 in channel 1.
        byte[] pixels = [0, 255, 51, 102, 0, 255, 51, 102];
        var data = new ImageDataset("two", pixels, [0, 1], 2, 1, 2, 2, [0.5f, 0.2f], [0.25f, 0.1f]);
        var (x, _) = data.Batch([1]);
        float[] values = x.data<float>().ToArray();
        float[] expected = [(0 - 0.5f) / 0.25f, (1 - 0.5f) / 0.25f, (0.2f - 0.2f) / 0.1f, (0.4f - 0.2f) / 0.1f];
        for (int i = 0; i < 4; i++)
            Assert.Equal(expected[i], values[i], 5);
    }

    [Fact]
    public void BalancedSubset_TakesEqualSharesPerClass_Reproducibly_AndSubsetCopiesThoseImages()
    {
        // 60 one-pixel images, pixel = index, labels 0..2 with 30 / 20 / 10 members.
        byte[] labels = Enumerable.Range(0, 60).Select(i => (byte)(i < 30 ? 0 : i < 50 ? 1 : 2)).ToArray();
        var data = new ImageDataset("sixty", Enumerable.Range(0, 60).Select(i => (byte)i).ToArray(), labels, 1, 1, 1, 3, 0f, 1f);
        var indices = data.BalancedSubset(20, seed: 4);
        Assert.Equal(20, indices.Distinct().Count());
        Assert.Equal([7, 7, 6], Enumerable.Range(0, 3).Select(c => indices.Count(i => labels[i] == c)).ToArray());
        Assert.Equal(indices, data.BalancedSubset(20, seed: 4));
        Assert.NotEqual(indices, data.BalancedSubset(20, seed: 5));
        var subset = data.Subset(indices, "twenty");
        Assert.Equal(indices.Select(i => (byte)i).ToArray(), subset.Pixels);
        Assert.Equal(indices.Select(i => labels[i]).ToArray(), subset.Labels);
        Assert.Contains("needs 11 of class 2", Assert.Throws<SurgeonException>(() => data.BalancedSubset(33, 0)).Message);
        Assert.Contains("has 60", Assert.Throws<SurgeonException>(() => data.BalancedSubset(61, 0)).Message);
    }

    [Fact]
    public void SingleValueConstructor_AppliesToEveryChannel()
    {
        var data = new ImageDataset("grey", new byte[12], [0, 1], 3, 1, 2, 2, 0.3f, 0.6f);
        Assert.Equal([0.3f, 0.3f, 0.3f], data.Means);
        Assert.Equal([0.6f, 0.6f, 0.6f], data.Stds);
    }

    [Fact]
    public void WrongNormalisation_IsAClearError()
    {
        Assert.Contains("2 channels but 1 means", Assert.Throws<SurgeonException>(
            () => new ImageDataset("bad", new byte[4], [0], 2, 1, 2, 2, [0.5f], [0.2f])).Message);
        Assert.Contains("positive standard deviations", Assert.Throws<SurgeonException>(
            () => new ImageDataset("bad", new byte[2], [0], 1, 1, 2, 2, 0.5f, 0f)).Message);
    }

    [Fact]
    public void AugmentedBatch_IsTheNormalisedAugmentedImage()
    {
        byte[] pixels = Enumerable.Range(1, 2 * 3 * 4).Select(i => (byte)(10 * i)).ToArray(); // one 2×3×4 image
        var data = new ImageDataset("one", pixels, [0], 2, 3, 4, 2, [0.1f, 0.2f], [0.3f, 0.4f]);
        var (x, _) = data.Batch([0], augment: new RandomCropFlip(2, true, seed: 7));
        var augmented = new byte[pixels.Length];
        new RandomCropFlip(2, true, seed: 7).Apply(pixels, augmented, 2, 3, 4);
        Assert.NotEqual(pixels, augmented); // the seed does move this image
        float[] values = x.data<float>().ToArray();
        for (int i = 0; i < values.Length; i++)
        {
            int c = i / 12;
            Assert.Equal((augmented[i] / 255f - data.Means[c]) / data.Stds[c], values[i], 5);
        }
    }
}
