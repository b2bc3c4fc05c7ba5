using Surgeon.Models;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Training;

public class BatchNormRecalibrationTests
{
    /// <summary>conv → BN → ReLU → conv → BN → flatten → linear, with non-trivial BN affine parameters.</summary>
    private static (nn.Module<Tensor, Tensor> Model, nn.Module<Tensor, Tensor> Conv1, SafeBatchNorm2d Bn1,
        nn.Module<Tensor, Tensor> Conv2, SafeBatchNorm2d Bn2) TwoLayerNet()
    {
        manual_seed(7);
        var conv1 = nn.Conv2d(1, 3, 3);
        var bn1 = new SafeBatchNorm2d(3);
        var conv2 = nn.Conv2d(3, 2, 3);
        var bn2 = new SafeBatchNorm2d(2);
        using (no_grad())
        {
            bn1.weight.copy_(tensor(new float[] { 0.5f, 1.5f, -1f }));
            bn1.bias.copy_(tensor(new float[] { 0.1f, -0.2f, 0.3f }));
            bn2.running_mean.fill_(Surgeon.Numerics.HeldScalars.Of(5));   // stale statistics that must be replaced
            bn2.running_var.fill_(Surgeon.Numerics.HeldScalars.Of(9));
        }
        var model = nn.Sequential(conv1, bn1, nn.ReLU(), conv2, bn2, nn.Flatten(), nn.Linear(2 * 4 * 4, 3));
        return (model, conv1, bn1, conv2, bn2);
    }

    [Fact]
    public void RunningStatistics_AreTheAverageOverBatchesOfEachBatchsMeanAndUnbiasedVariance()
    {
        var data = TestModels.RandomImages(30, 1, 8, 8, 3, seed: 4);
        var (model, conv1, bn1, conv2, bn2) = TwoLayerNet();
        var weightsBefore = model.parameters().Select(p => p.detach().clone()).ToList();
        model.eval();
        int layers = BatchNormRecalibration.Run(model, data, samples: 20, seed: 3, batchSize: 8);  // batches of 8, 8, 4
        Assert.Equal(2, layers);
        Assert.False(model.training);

        // By hand: each batch normalised with its own statistics (biased variance), as BatchNorm does in train mode.
        var indices = data.RandomSubset(20, 3);
        var sums = new[] { zeros(3, ScalarType.Float64), zeros(3, ScalarType.Float64), zeros(2, ScalarType.Float64), zeros(2, ScalarType.Float64) };
        int batches = 0;
        using (no_grad())
        {
            foreach (var chunk in indices.Chunk(8))
            {
                var (x, _) = data.Batch(chunk);
                var h1 = conv1.forward(x).to(ScalarType.Float64);
                var m1 = h1.mean([0, 2, 3]);
                var v1 = h1.var([0, 2, 3], unbiased: true);
                var vb1 = h1.var([0, 2, 3], unbiased: false);
                var y1 = ((h1 - m1.view(1, 3, 1, 1)) / (vb1.view(1, 3, 1, 1) + 1e-5).sqrt()
                    * bn1.weight.to(ScalarType.Float64).view(1, 3, 1, 1) + bn1.bias.to(ScalarType.Float64).view(1, 3, 1, 1)).relu();
                var h2 = conv2.forward(y1.to(ScalarType.Float32)).to(ScalarType.Float64);
                sums[0] += m1; sums[1] += v1;
                sums[2] += h2.mean([0, 2, 3]); sums[3] += h2.var([0, 2, 3], unbiased: true);
                batches++;
            }
        }
        Assert.Equal(3, batches);
        AssertClose(sums[0] / batches, bn1.running_mean);
        AssertClose(sums[1] / batches, bn1.running_var);
        AssertClose(sums[2] / batches, bn2.running_mean);
        AssertClose(sums[3] / batches, bn2.running_var);
        // Only the statistics change: every parameter is untouched, and the default momentum is back.
        foreach (var (before, after) in weightsBefore.Zip(model.parameters()))
            Assert.True(before.allclose(after, rtol: 0, atol: 0));
        Assert.Equal(0.1, bn1.Momentum);
    }

    [Fact]
    public void AModelWithoutBatchNorm_IsLeftAlone_AndBadCountsAreClearErrors()
    {
        var data = TestModels.RandomImages(10, 1, 4, 4, 3);
        var mlp = TestModels.TinyMlp(inputs: 16);
        Assert.Equal(0, BatchNormRecalibration.Run(mlp, data, samples: 10, seed: 0));
        Assert.Contains("has only 10", Assert.Throws<SurgeonException>(() => BatchNormRecalibration.Run(mlp, data, 11, 0)).Message);
        Assert.Contains("positive", Assert.Throws<SurgeonException>(() => BatchNormRecalibration.Run(mlp, data, 0, 0)).Message);
    }

    private static void AssertClose(Tensor expected, Tensor actual)
    {
        var e = expected.data<double>().ToArray();
        var a = actual.to(ScalarType.Float64).data<double>().ToArray();
        Assert.Equal(e.Length, a.Length);
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= 1e-4 * Math.Max(1, Math.Abs(e[i])), $"entry {i}: expected {e[i]}, got {a[i]}");
    }
}
