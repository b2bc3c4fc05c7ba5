using Surgeon.Compression;

namespace Surgeon.Quantization;

/// <summary>
/// The scale and zero point of a b-bit grid that covers a range [lo, hi]. Symmetric: scale = max(|lo|, |hi|) / (2^(b−1) − 1),
/// zero point 0 (codes −(2^(b−1) − 1) … 2^(b−1) − 1 are used, so the grid is the same on both sides). Asymmetric: the range
/// is widened to hold 0, scale = (hi − lo) / (2^b − 1), zero point round(q_min − lo / scale) clamped to the code range, so
/// that 0 is a grid point and pruned weights stay exact zeros.
/// </summary>
/// <remarks>
/// Scales are rounded to float32, the precision every consumer uses (fake-quant in TorchSharp, ONNX's scale tensors,
/// the sparse file), so all of them compute with the same number. A range of width 0 (an all-zero channel, such as a
/// pruned filter) gets scale 1: any scale represents its zeros exactly.
/// </remarks>
internal static class QuantizationGrid
{
    /// <summary>The smallest normal float32; a positive scale below it is raised to it.</summary>
    private const float SmallestScale = 1.17549435e-38f;

    public static (double Scale, long ZeroPoint) FromRange(double lo, double hi, int bits, bool symmetric)
    {
        if (!double.IsFinite(lo) || !double.IsFinite(hi) || lo > hi)
            throw new SurgeonException($"cannot quantise the range [{lo}, {hi}]: it must be finite with min ≤ max");
        long qMin = -(1L << (bits - 1)), qMax = (1L << (bits - 1)) - 1;
        if (symmetric)
        {
            double m = Math.Max(Math.Abs(lo), Math.Abs(hi));
            return (ToFloat32Scale(m / qMax), 0);
        }
        lo = Math.Min(lo, 0);
        hi = Math.Max(hi, 0);
        double scale = ToFloat32Scale((hi - lo) / (qMax - qMin));
        long zero = hi == lo ? 0 : (long)Math.Round(qMin - lo / scale, MidpointRounding.ToEven);
        return (scale, Math.Clamp(zero, qMin, qMax));
    }

    /// <summary>One grid per row of ranges (per channel), as a <see cref="TensorQuantization"/> along <paramref name="axis"/>.</summary>
    public static TensorQuantization FromRanges(double[] lo, double[] hi, int bits, bool symmetric, int? axis)
    {
        var scales = new double[lo.Length];
        var zeros = new long[lo.Length];
        for (int c = 0; c < lo.Length; c++)
            (scales[c], zeros[c]) = FromRange(lo[c], hi[c], bits, symmetric);
        return new TensorQuantization(bits, symmetric, axis, scales, zeros);
    }

    private static double ToFloat32Scale(double scale)
    {
        if (scale == 0) return 1;
        float single = (float)scale;
        return single < SmallestScale ? SmallestScale : single;
    }
}
