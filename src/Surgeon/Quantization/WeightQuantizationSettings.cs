using Surgeon.Compression;

namespace Surgeon.Quantization;

/// <summary>How a weight's scale is chosen: from its range, or by the clipping range with the least squared error.</summary>
internal enum ScaleMethod
{
    /// <summary>The grid spans the weight's range ([min, max] widened to hold 0; ±max|w| when symmetric): nothing clips.</summary>
    MinMax,

    /// <summary>
    /// The range shrunk by the factor α ∈ {1/G, 2/G, …, 1} (G = <see cref="WeightQuantizationSettings.MseGridPoints"/>)
    /// with the least squared quantisation error, then refined by alternating codes and the least-squares scale
    /// (see <see cref="ClippingSearch"/>).
    /// </summary>
    Mse,
}

/// <summary>
/// Uniform b-bit weight quantisation: bits (2–8), symmetric (zero point 0) or asymmetric, one scale per tensor or per
/// output channel (axis 0), the scale by min–max or squared-error search. Biases are never quantised.
/// </summary>
internal sealed record WeightQuantizationSettings
{
    public int Bits { get; init; } = 8;
    public bool Symmetric { get; init; } = true;
    public bool PerChannel { get; init; }
    public ScaleMethod Scale { get; init; } = ScaleMethod.MinMax;

    /// <summary>G, the number of clipping factors the MSE search tries (α = i/G, i = 1 … G).</summary>
    public int MseGridPoints { get; init; } = 100;

    public void Validate()
    {
        if (Bits is < TensorQuantization.MinBits or > TensorQuantization.MaxBits)
            throw new SurgeonException($"weight bits must be in {TensorQuantization.MinBits}..{TensorQuantization.MaxBits}, got {Bits}");
        if (MseGridPoints < 1)
            throw new SurgeonException($"the MSE scale search needs at least 1 grid point, got {MseGridPoints}");
    }

    /// <summary>"8-bit symmetric per-channel, MSE scale": for reports.</summary>
    public string Describe() =>
        $"{Bits}-bit {(Symmetric ? "symmetric" : "asymmetric")} per-{(PerChannel ? "channel" : "tensor")}, {(Scale == ScaleMethod.Mse ? "MSE" : "min-max")} scale";
}
