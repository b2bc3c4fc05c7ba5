using Surgeon.Data;
using TorchSharp;

namespace Surgeon.Tests.Data;

public class EmbeddedDigitsTests
{
    [Fact]
    public void Has8000TrainAnd2000Test_ClassBalanced()
    {
        var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
        Assert.Equal(8000, train.Count);
        Assert.Equal(2000, test.Count);
        Assert.Equal([1, 28, 28], train.SampleShape);
        var trainCounts = train.ClassCounts();
        var testCounts = test.ClassCounts();
        for (int d = 0; d < 10; d++)
        {
            int n = trainCounts[d] + testCounts[d];
            Assert.InRange(n, 863, 1127);
            Assert.Equal((int)Math.Round(0.8 * n, MidpointRounding.AwayFromZero), trainCounts[d]);
        }
    }

    [Fact]
    public void Batch_NormalisesWithMnistStatistics()
    {
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var (x, y) = train.Batch([0, 1, 2, 3]);
        using (x) using (y)
        {
            Assert.Equal(new long[] { 4, 1, 28, 28 }, x.shape);
            float min = x.min().item<float>(), max = x.max().item<float>();
            Assert.Equal(-0.1307f / 0.3081f, min, 4);
            Assert.True(max > 2.5f && max <= (1 - 0.1307f) / 0.3081f + 1e-4f);
            Assert.Equal(train.Labels[2], (byte)y[2].item<long>());
        }
    }

    [Fact]
    public void NpmConverter_SplitsEachDigitInFileOrder()
    {
        string dir = Directory.CreateTempSubdirectory("npm-").FullName;
        string outDir = Path.Combine(dir, "out");
        try
        {
            for (int d = 0; d < 10; d++)
            {
                int n = 5 + d; // 5..14 images per digit
                var values = Enumerable.Range(0, n * 784).Select(i => (i / 784 % 2 == 0 ? 0.5 : 1.0).ToString(System.Globalization.CultureInfo.InvariantCulture));
                File.WriteAllText(Path.Combine(dir, $"{d}.json"), "{\"data\": [" + string.Join(",", values) + "]}");
            }
            var (trainCount, testCount) = NpmDigitsConverter.Convert(dir, outDir);
            int expectedTrain = Enumerable.Range(0, 10).Sum(d => (int)Math.Round(0.8 * (5 + d), MidpointRounding.AwayFromZero));
            Assert.Equal(expectedTrain, trainCount);
            Assert.Equal(Enumerable.Range(0, 10).Sum(d => 5 + d) - expectedTrain, testCount);
            var images = IdxFile.Read(Path.Combine(outDir, "train-images-idx3-ubyte.gz"));
            Assert.Equal(128, images.Data[0]); // round(0.5·255) = 128 (first image of digit 0)
            Assert.Equal(255, images.Data[784]); // second image is all 1.0
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
