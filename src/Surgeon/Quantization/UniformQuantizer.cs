using Surgeon.Compression;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// The uniform affine grid of a <see cref="TensorQuantization"/> applied to tensors, in float32 as every runtime computes
/// it: code q = clamp(round(x / scale) + zero point, q_min, q_max) with round half to even (torch.round, and ONNX's
/// QuantizeLinear), value (q − zero point) · scale. Per-axis grids broadcast along their axis.
/// </summary>
internal static class UniformQuantizer
{
    /// <summary>The codes of <paramref name="x"/> as int8 (every code of 8 bits or fewer fits).</summary>
    public static Tensor Quantize(Tensor x, TensorQuantization q)
    {
        using var scope = NewDisposeScope();
        return Codes(x, q).to(ScalarType.Int8).MoveToOuterDisposeScope();
    }

    /// <summary>The float32 values (q − zero point) · scale of integer <paramref name="codes"/>.</summary>
    public static Tensor Dequantize(Tensor codes, TensorQuantization q)
    {
        using var scope = NewDisposeScope();
        var (scale, zero) = Grid(q, codes);
        return codes.to(ScalarType.Float32).add(zero, HeldScalars.Of(-1)).mul(scale).MoveToOuterDisposeScope();
    }

    /// <summary>Quantise then dequantise (no gradient through it; <see cref="StraightThrough"/> has one).</summary>
    public static Tensor FakeQuantize(Tensor x, TensorQuantization q)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (scale, zero) = Grid(q, x);
        return Codes(x, q).add_(zero, HeldScalars.Of(-1)).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>The codes as a float32 tensor of whole numbers in [q_min, q_max].</summary>
    internal static Tensor Codes(Tensor x, TensorQuantization q)
    {
        q.Validate("quantisation");
        if (x.dtype != ScalarType.Float32)
            throw new ArgumentException($"quantisation works on float32 tensors, got {x.dtype}", nameof(x));
        var (scale, zero) = Grid(q, x);
        return x.detach().div(scale).round_().add_(zero, HeldScalars.One)
            .clamp_(HeldScalars.Of(q.QMin), HeldScalars.Of(q.QMax));
    }

    /// <summary>Scales and zero points as float32 tensors shaped to broadcast over <paramref name="like"/>.</summary>
    internal static (Tensor Scale, Tensor ZeroPoint) Grid(TensorQuantization q, Tensor like)
    {
        var scale = tensor(q.Scales.Select(s => (float)s).ToArray(), device: like.device);
        var zero = tensor(q.ZeroPoints.Select(z => (float)z).ToArray(), device: like.device);
        if (q.Axis is not int axis)
        {
            if (q.Scales.Length != 1)
                throw new ArgumentException($"a per-tensor quantisation has one scale, got {q.Scales.Length}");
            return (scale.reshape([]), zero.reshape([]));
        }
        if (axis < 0 || axis >= like.dim())
            throw new ArgumentException($"quantisation axis {axis} is outside a {like.dim()}-dimensional tensor");
        if (like.shape[axis] != q.Scales.Length)
            throw new ArgumentException($"{q.Scales.Length} scales for axis {axis} of size {like.shape[axis]}");
        var shape = Enumerable.Repeat(1L, (int)like.dim()).ToArray();
        shape[axis] = q.Scales.Length;
        return (scale.reshape(shape), zero.reshape(shape));
    }
}
