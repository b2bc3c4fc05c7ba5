using Surgeon.Continual;
using Surgeon.Data;
using static TorchSharp.torch;

namespace Surgeon.Tests.Continual;

/// <summary>
/// The rank-update notebook's training set-up: the MSE-on-softmax loss against the formula summed by loops in double,
/// cross-entropy against −log softmax per sample, and raw-pixel inputs equal to the stored bytes.
/// </summary>
public class ContinualLossTests
{
    private static (double[,] Logits, long[] Labels) Example()
    {
        var rng = new Random(11);
        var z = new double[6, 4];
        for (int i = 0; i < 6; i++)
            for (int c = 0; c < 4; c++) z[i, c] = rng.NextDouble() * 6 - 3;
        return (z, [0, 3, 1, 1, 2, 3]);
    }

    private static double[] SoftmaxRow(double[,] z, int i)
    {
        int k = z.GetLength(1);
        double max = Enumerable.Range(0, k).Max(c => z[i, c]);
        var e = Enumerable.Range(0, k).Select(c => Math.Exp(z[i, c] - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    [Fact]
    public void MseSoftmax_EqualsTheMeanSquaredErrorOfSoftmaxAgainstOneHot()
    {
        var (z, labels) = Example();
        double expected = 0;
        for (int i = 0; i < 6; i++)
        {
            var p = SoftmaxRow(z, i);
            for (int c = 0; c < 4; c++) expected += Math.Pow(p[c] - (labels[i] == c ? 1 : 0), 2);
        }
        expected /= 6 * 4;
        using var logits = tensor(z, dtype: ScalarType.Float64);
        using var y = tensor(labels);
        using var loss = ContinualLoss.Of(ContinualLoss.MseSoftmax, logits, y);
        Assert.Equal(expected, loss.item<double>(), 1e-12);
    }

    [Fact]
    public void CrossEntropy_EqualsTheMeanNegativeLogSoftmaxOfTheLabel()
    {
        var (z, labels) = Example();
        double expected = Enumerable.Range(0, 6).Average(i => -Math.Log(SoftmaxRow(z, i)[labels[i]]));
        using var logits = tensor(z, dtype: ScalarType.Float64);
        using var y = tensor(labels);
        using var loss = ContinualLoss.Of(ContinualLoss.CrossEntropy, logits, y);
        Assert.Equal(expected, loss.item<double>(), 1e-12);
    }

    [Fact]
    public void UnknownLoss_IsRefused() =>
        Assert.Throws<SurgeonException>(() => new ContinualOptions { Loss = "hinge" }.Validate());

    [Fact]
    public void RawPixels_FeedsTheBytesThemselves()
    {
        var data = TestModels.RandomImages(5, 1, 4, 4, 10, seed: 2);
        var raw = TaskSequences.RawPixels(data);
        using var x = raw.Batch(Enumerable.Range(0, 5).ToArray()).Inputs;
        var values = x.data<float>().ToArray();
        Assert.Equal(data.Pixels.Length, values.Length);
        for (int i = 0; i < values.Length; i++) Assert.Equal(data.Pixels[i], values[i], 1e-4);
        Assert.Equal(data.Labels, raw.Labels);
    }
}
