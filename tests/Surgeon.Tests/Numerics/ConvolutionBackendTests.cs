using Surgeon.Models;
using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Numerics;

public class ConvolutionBackendTests
{
    // With oneDNN on, most of these trials gave input gradients off by ~1 or NaN (4 and 8 channels).
    [Theory]
    [InlineData(4, 28)]
    [InlineData(8, 14)]
    public void NarrowConv_InputGradientMatchesAFloat64Reference(int channels, int side)
    {
        Assert.True(ConvolutionBackend.DisableOneDnn());
        manual_seed(2);
        var conv = nn.Conv2d(channels, channels, 3, padding: 1, bias: false);
        for (int trial = 0; trial < 4; trial++)
        {
            using var scope = NewDisposeScope();
            var x = randn(new long[] { 32, channels, side, side }, requires_grad: true);
            var upstream = randn(new long[] { 32, channels, side, side });
            conv.call(x).backward([upstream]);
            // The input gradient of a stride-1 conv is the transposed conv of the upstream gradient.
            var reference = nn.functional.conv_transpose2d(upstream.to_type(ScalarType.Float64),
                conv.weight!.detach().to_type(ScalarType.Float64), padding: new long[] { 1, 1 });
            double error = x.grad!.to_type(ScalarType.Float64).sub(reference).abs().nan_to_num(1e30).max().item<double>();
            Assert.True(error < 1e-4, $"trial {trial}: input gradient off by {error}");
        }
    }

    [Fact]
    public void NarrowResNet_HasFiniteGradients()
    {
        manual_seed(1);
        var model = ModelRegistry.Create(new ModelSpec("resnet20", [1, 28, 28], 10, 0.25));
        model.train();
        using var scope = NewDisposeScope();
        nn.functional.cross_entropy(model.call(randn(32, 1, 28, 28)), randint(0, 10, [32])).backward();
        var bad = model.named_parameters().Where(p => !p.parameter.grad!.isfinite().all().item<bool>()).Select(p => p.name).ToList();
        Assert.True(bad.Count == 0, $"non-finite gradients in {string.Join(", ", bad)}");
    }
}
