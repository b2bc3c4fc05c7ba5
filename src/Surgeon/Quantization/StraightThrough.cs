using Surgeon.Compression;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// Fake quantisation that training can pass gradients through: the forward value is the quantised x̂ = q(x), the
/// gradient the straight-through estimator's identity, ∂x̂/∂x = 1 (Bengio et al. 2013), written as
/// q(x).detach() + (x − x.detach()): the second term is exactly 0 with gradient 1, so the value is q(x) bit for bit (the
/// usual x + (q(x) − x).detach() can be off by one rounding). A quantisation-aware training step calls it on each weight
/// (and activation) in its forward.
/// </summary>
internal static class StraightThrough
{
    public static Tensor FakeQuantize(Tensor x, TensorQuantization q)
    {
        using var scope = NewDisposeScope();
        var quantised = UniformQuantizer.FakeQuantize(x, q);
        var zeroWithGradient = x.add(x.detach(), HeldScalars.Of(-1));
        return quantised.add(zeroWithGradient, HeldScalars.One).MoveToOuterDisposeScope();
    }
}
