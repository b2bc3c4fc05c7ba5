using Surgeon.Export;
using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

/// <summary>Folding an inference-mode BatchNorm into its neighbour gives the same outputs as running both in TorchSharp.</summary>
public class BatchNormFoldingTests
{
    [Theory]
    [InlineData(4, 6, 3, 1, 1, 1, false)] // plain 3×3
    [InlineData(5, 5, 3, 2, 1, 5, false)] // depthwise, stride 2
    [InlineData(4, 6, 1, 1, 0, 2, true)]  // grouped 1×1 with a bias
    public void FoldedConv_EqualsConvThenBatchNorm(int inChannels, int outChannels, int kernel, int stride, int padding, int groups, bool bias)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, groups: groups, bias: bias);
        var norm = RandomNorm(outChannels);
        var x = randn(3, inChannels, 9, 9);
        Tensor expected;
        using (no_grad())
            expected = norm.call(conv.call(x));

        var (weight, foldedBias) = BatchNormFolding.IntoPrecedingConv(
            TensorData.Floats(conv.weight), bias ? TensorData.Floats(conv.bias!) : null, ChannelAffine.Of(norm));
        var folded = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, groups: groups, bias: true);
        using (no_grad())
        {
            folded.weight.copy_(tensor(weight).reshape(conv.weight.shape));
            folded.bias!.copy_(tensor(foldedBias));
        }
        Tensor actual;
        using (no_grad())
            actual = folded.call(x);
        Assert.True(expected.abs().max().item<float>() > 0.1f);
        Assert.True(actual.sub(expected).abs().max().item<float>() < 1e-5f, $"max |Δ| = {actual.sub(expected).abs().max().item<float>()}");
    }

    [Fact]
    public void NormFoldedIntoTheClassifier_EqualsNormThenAveragePoolThenLinear()
    {
        // VGG-13's last BN when no max-pool follows it: BN → global average pool → flatten → linear.
        using var scope = NewDisposeScope();
        manual_seed(4);
        var norm = RandomNorm(6);
        var linear = nn.Linear(6, 4);
        var x = randn(3, 6, 2, 2);
        Tensor expected;
        using (no_grad())
            expected = linear.call(nn.functional.adaptive_avg_pool2d(norm.call(x), 1).flatten(1));

        var (weight, bias) = BatchNormFolding.IntoFollowingLinear(
            TensorData.Floats(linear.weight), TensorData.Floats(linear.bias!), 4, ChannelAffine.Of(norm));
        var pooled = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        var actual = pooled.matmul(tensor(weight).reshape(4, 6).t()).add(tensor(bias));
        Assert.True(actual.sub(expected).abs().max().item<float>() < 1e-5f, $"max |Δ| = {actual.sub(expected).abs().max().item<float>()}");
    }

    [Fact]
    public void MismatchedShapes_AreRejected()
    {
        var norm = ChannelAffine.Of([1f, 1f], [0f, 0f], [0f, 0f], [1f, 1f], 1e-5);
        Assert.Throws<ArgumentException>(() => BatchNormFolding.IntoPrecedingConv(new float[9], null, norm));
        Assert.Throws<ArgumentException>(() => BatchNormFolding.IntoFollowingLinear(new float[6], null, 2, norm));
    }

    /// <summary>An eval-mode BatchNorm with γ, β, running mean and variance far from the identity.</summary>
    private static SafeBatchNorm2d RandomNorm(int channels)
    {
        var norm = new SafeBatchNorm2d(channels);
        using (no_grad())
        {
            norm.weight.copy_(rand(channels).mul(2).sub(1));       // γ in [-1, 1]: negative scales too
            norm.bias.copy_(randn(channels).mul(0.5));
            norm.running_mean.copy_(randn(channels).mul(0.5));
            norm.running_var.copy_(rand(channels).mul(1.5).add(0.5));
        }
        norm.eval();
        return norm;
    }
}
