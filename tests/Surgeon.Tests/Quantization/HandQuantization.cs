using Surgeon.Compression;

namespace Surgeon.Tests.Quantization;

/// <summary>
/// The quantisation formulas written out element by element in plain C#, the independent reference the library's
/// tensor code is checked against: grid parameters from a range, codes, values and squared errors.
/// </summary>
internal static class HandQuantization
{
    /// <summary>
    /// Scale and zero point of a b-bit grid over [lo, hi]: symmetric max(|lo|, |hi|)/(2^(b−1) − 1), zero point 0;
    /// asymmetric (hi' − lo')/(2^b − 1) with [lo', hi'] = [min(lo, 0), max(hi, 0)], zero point
    /// round(−2^(b−1) − lo'/scale). Scales as float32; a range of width 0 has scale 1.
    /// </summary>
    public static (float Scale, int Zero) Grid(double lo, double hi, int bits, bool symmetric)
    {
        int qMin = -(1 << (bits - 1)), qMax = (1 << (bits - 1)) - 1;
        if (symmetric)
        {
            double m = Math.Max(Math.Abs(lo), Math.Abs(hi));
            return (m == 0 ? 1f : (float)(m / qMax), 0);
        }
        double l = Math.Min(lo, 0), h = Math.Max(hi, 0);
        if (h == l) return (1f, 0);
        float scale = (float)((h - l) / (Math.Pow(2, bits) - 1));
        int zero = (int)Math.Round(qMin - l / scale, MidpointRounding.ToEven);
        return (scale, Math.Clamp(zero, qMin, qMax));
    }

    public static int Code(float x, float scale, int zero, int bits)
    {
        int qMin = -(1 << (bits - 1)), qMax = (1 << (bits - 1)) - 1;
        float ratio = x / scale; // float32 division, as the runtimes do
        return (int)Math.Clamp(MathF.Round(ratio, MidpointRounding.ToEven) + zero, qMin, qMax);
    }

    public static float Value(int code, float scale, int zero) => (code - zero) * scale;

    public static float FakeQuantize(float x, float scale, int zero, int bits) => Value(Code(x, scale, zero, bits), scale, zero);

    /// <summary>Σ(x − q(x))² in double for one grid.</summary>
    public static double SquaredError(float[] xs, float scale, int zero, int bits) =>
        xs.Sum(x => Math.Pow(x - (double)FakeQuantize(x, scale, zero, bits), 2));

    public static TensorQuantization AsQuantization(IReadOnlyList<(float Scale, int Zero)> grids, int bits, bool symmetric, int? axis) =>
        new(bits, symmetric, axis, grids.Select(g => (double)g.Scale).ToArray(), grids.Select(g => (long)g.Zero).ToArray());
}
