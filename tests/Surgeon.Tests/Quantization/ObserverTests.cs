using Surgeon.Quantization;
using static TorchSharp.torch;

namespace Surgeon.Tests.Quantization;

/// <summary>Activation observers fed in several batches against the min, max and percentiles of all values sorted by hand.</summary>
public class ObserverTests
{
    private static (List<Tensor> Batches, float[] All) Batches(int seed)
    {
        manual_seed(seed);
        // Post-ReLU-like values with a few outliers, in uneven batches.
        var batches = new[] { 3, 5, 2, 4 }.Select(b => randn(b, 4, 5, 5).relu().mul(rand(b, 4, 5, 5).add(tensor(0.5f), UniformQuantizerTests.HeldScalarsOne))).ToList();
        batches[1][0, 0, 0, 0] = tensor(40f);
        batches[2][1, 3, 4, 4] = tensor(-7f);
        return (batches, batches.SelectMany(b => b.data<float>().ToArray()).ToArray());
    }

    [Fact]
    public void MinMax_IsTheSmallestAndLargestValue()
    {
        var (batches, all) = Batches(1);
        var observer = new MinMaxObserver();
        batches.ForEach(observer.Observe);
        Assert.Equal((all.Min(), all.Max()), ((float)observer.Range.Min, (float)observer.Range.Max));
        var q = observer.Grid(8, symmetric: false);
        var (scale, zero) = HandQuantization.Grid(all.Min(), all.Max(), 8, false);
        Assert.Equal(scale, (float)q.Scales[0]);
        Assert.Equal(zero, q.ZeroPoints[0]);
    }

    [Theory]
    [InlineData(99.5)]
    [InlineData(99.99)]
    [InlineData(90)]
    [InlineData(100)]
    public void Percentile_IsTheNearestRankOfAllValuesSorted(double p)
    {
        var (batches, all) = Batches(2);
        var observer = new PercentileObserver(p, all.Length);
        batches.ForEach(observer.Observe);
        var sorted = all.OrderBy(v => v).ToArray();
        int rank = (int)Math.Ceiling((decimal)p / 100 * sorted.Length); // x_(r), 1-based
        Assert.Equal(sorted[rank - 1], (float)observer.Range.High);
        Assert.Equal(sorted[sorted.Length - rank], (float)observer.Range.Low);
        if (p == 100) Assert.Equal((all.Min(), all.Max()), ((float)observer.Range.Low, (float)observer.Range.High));
        else if (p <= 99.5) Assert.True(observer.Range.High < 40); // the outlier clips (at 99.99 % of 1,400 values it is the rank)
    }

    [Fact]
    public void Percentile_RefusesToAnswerBeforeItHasSeenEveryValue()
    {
        var (batches, all) = Batches(3);
        var observer = new PercentileObserver(99, all.Length);
        observer.Observe(batches[0]);
        Assert.Throws<InvalidOperationException>(() => observer.Range);
    }

    [Theory]
    [InlineData(1 << 20)] // everything kept
    [InlineData(97)]      // every s-th value, s = ⌈1,400 / 97⌉ = 15
    public void Mse_SearchesOnEverySthValue_AndBeatsMinMaxOnOutliers(int budget)
    {
        var (batches, all) = Batches(4);
        var observer = new MseObserver(all.Length, budget, gridPoints: 100);
        batches.ForEach(observer.Observe);
        var q = observer.Grid(8, symmetric: false);

        int stride = (all.Length + budget - 1) / budget;
        float[] sample = all.Where((_, i) => i % stride == 0).ToArray();
        double best = double.PositiveInfinity;
        for (int j = 1; j <= 50; j++)
        {
            var (s, z) = HandQuantization.Grid(j / 50.0 * all.Min(), j / 50.0 * all.Max(), 8, false);
            best = Math.Min(best, HandQuantization.SquaredError(sample, s, z, 8));
        }
        double error = HandQuantization.SquaredError(sample, (float)q.Scales[0], (int)q.ZeroPoints[0], 8);
        Assert.True(error <= best * (1 + 1e-12), $"MSE observer error {error:G6} > brute force {best:G6} on the same {sample.Length} values");
        var (s1, z1) = HandQuantization.Grid(all.Min(), all.Max(), 8, false);
        Assert.True(error < HandQuantization.SquaredError(sample, s1, z1, 8)); // the outlier at 40 makes min-max wasteful
    }
}
