namespace Surgeon.Compression;

/// <summary>
/// Uniform affine quantisation of one tensor: code q = clamp(round(w / scale) + zeroPoint, qmin, qmax) and value
/// ŵ = (q − zeroPoint) · scale, with [qmin, qmax] = [−2^(b−1), 2^(b−1) − 1] (signed codes). Zero is always exactly
/// representable (q = zeroPoint), so pruned weights stay exact zeros. One scale and zero point for the whole tensor
/// (<see cref="Axis"/> null) or one per slice along <see cref="Axis"/> (0 = per output channel).
/// </summary>
/// <remarks>
/// Part of the shared vocabulary (the base layer): checkpoints, eval, export and reports read it, the quantisation
/// stage computes it. Symmetric quantisation has every zero point 0.
/// </remarks>
internal sealed record TensorQuantization(int Bits, bool Symmetric,
    // Written also when null (per tensor): the sparse header's strict reader requires every constructor parameter.
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.Never)] int? Axis, double[] Scales, long[] ZeroPoints)
{
    public const int MinBits = 2;
    public const int MaxBits = 8;

    public long QMin => -(1L << (Bits - 1));
    public long QMax => (1L << (Bits - 1)) - 1;

    /// <summary>Throws a <see cref="SurgeonException"/> naming <paramref name="what"/> when the parameters cannot describe a grid.</summary>
    public void Validate(string what)
    {
        if (Bits is < MinBits or > MaxBits)
            throw new SurgeonException($"{what}: bits must be in {MinBits}..{MaxBits}, got {Bits}");
        if (Scales.Length == 0 || Scales.Length != ZeroPoints.Length)
            throw new SurgeonException($"{what}: {Scales.Length} scales but {ZeroPoints.Length} zero points");
        if (Axis is null && Scales.Length != 1)
            throw new SurgeonException($"{what}: a per-tensor quantisation has one scale, got {Scales.Length}");
        foreach (double s in Scales)
            if (!(s > 0) || double.IsInfinity(s))
                throw new SurgeonException($"{what}: every scale must be positive and finite, got {s}");
        foreach (long z in ZeroPoints)
            if (z < QMin || z > QMax || (Symmetric && z != 0))
                throw new SurgeonException($"{what}: zero point {z} is outside the {Bits}-bit code range {QMin}..{QMax}{(Symmetric ? " or not 0 (symmetric)" : "")}");
    }
}
