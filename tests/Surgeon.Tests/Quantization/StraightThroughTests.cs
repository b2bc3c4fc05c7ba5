using Surgeon.Compression;
using Surgeon.Quantization;
using static TorchSharp.torch;

namespace Surgeon.Tests.Quantization;

/// <summary>The straight-through fake quantisation: its value is q(x) bit for bit, its gradient the identity.</summary>
public class StraightThroughTests
{
    [Theory]
    [InlineData(3, true, null)]
    [InlineData(4, false, 0)]
    [InlineData(8, true, 0)]
    public void Value_IsTheQuantisedTensor_AndGradient_IsTheHandFormula(int bits, bool symmetric, int? axis)
    {
        manual_seed(bits);
        var x = randn(3, 7).requires_grad_();
        var q = WeightQuantizer.Compute(x, new WeightQuantizationSettings { Bits = bits, Symmetric = symmetric, PerChannel = axis is not null });
        var weights = randn(3, 7);
        var y = StraightThrough.FakeQuantize(x, q);
        Assert.Equal(UniformQuantizer.FakeQuantize(x, q).data<float>().ToArray(), y.data<float>().ToArray());

        // L = Σ c ⊙ x̂ with the STE's ∂x̂/∂x = 1 everywhere (clipped values included): ∂L/∂x = c.
        y.mul(weights).sum().backward();
        Assert.Equal(weights.data<float>().ToArray(), x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Gradient_FlowsThroughClippedValuesToo()
    {
        var x = tensor(new[] { -5f, 0.3f, 5f }).requires_grad_();
        var q = new TensorQuantization(2, true, null, [0.5], [0]);
        var y = StraightThrough.FakeQuantize(x, q);
        Assert.Equal(new[] { -1f, 0.5f, 0.5f }, y.data<float>().ToArray()); // codes clamp to −2 … 1
        y.sum().backward();
        Assert.Equal(new[] { 1f, 1f, 1f }, x.grad!.data<float>().ToArray());
    }
}
