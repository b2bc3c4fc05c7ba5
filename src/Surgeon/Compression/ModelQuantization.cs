namespace Surgeon.Compression;

/// <summary>
/// How a quantised checkpoint was quantised, as a whole model: the settings (to refuse re-quantising it differently and
/// to describe it), the BatchNorms folded into their neighbours before the weights were put on their grids, and the
/// grid of each Conv2d/Linear layer's input (by module path) where activations are quantised. Each weight's own grid is
/// the <see cref="TensorCompression.Quantization"/> of its tensor ("layer.weight"); it is the grid of the weight as the
/// quantised model computes with it: with any BatchNorm listed in <see cref="FoldedNorms"/> folded in.
/// </summary>
/// <remarks>
/// The weights file keeps the float weights (unfolded, off the grid): folding changes a conv's weight and gives it a
/// bias the model's state has no room for, so the quantised model is re-derived from the float weights, the folds and
/// the stored grids when the checkpoint is loaded (deterministically, and checked: the stored grids are used, not
/// recomputed). Lives in the base layer so the sidecar can carry it; the quantisation stage fills and reads it.
/// </remarks>
internal sealed record ModelQuantization
{
    /// <summary>"ptq" (post-training) or "qat" (quantisation-aware training).</summary>
    public string Method { get; init; } = "ptq";
    public int WeightBits { get; init; }
    public bool WeightSymmetric { get; init; } = true;
    public bool PerChannel { get; init; }
    /// <summary>"minmax" or "mse".</summary>
    public string WeightScale { get; init; } = "minmax";
    /// <summary>Null when activations stay in float.</summary>
    public int? ActivationBits { get; init; }
    public bool ActivationSymmetric { get; init; }
    /// <summary>"minmax", "percentile" or "mse"; null when activations stay in float.</summary>
    public string? Observer { get; init; }
    public double? Percentile { get; init; }
    public int? CalibrationSamples { get; init; }
    public int CalibrationSeed { get; init; }
    public List<string> FoldedNorms { get; init; } = [];
    public Dictionary<string, TensorQuantization> Inputs { get; init; } = [];

    /// <summary>The settings only (what a user chose), comparable across runs: "8-bit symmetric per-tensor mse; 8-bit activations minmax on 1000".</summary>
    public string SettingsKey() =>
        $"{WeightBits}-bit {(WeightSymmetric ? "symmetric" : "asymmetric")} per-{(PerChannel ? "channel" : "tensor")} {WeightScale} weights; " +
        (ActivationBits is { } a
            ? $"{a}-bit {(ActivationSymmetric ? "symmetric" : "asymmetric")} activations, {Observer}{(Observer == "percentile" ? $" {Percentile}" : "")} on {CalibrationSamples} samples (seed {CalibrationSeed})"
            : "float activations");

    /// <summary>What makes the record unusable as read from a file, or null.</summary>
    public string? Problem()
    {
        if (FoldedNorms is null || Inputs is null || Method is null || WeightScale is null) return "its model quantisation lacks a field";
        if (Method is not ("ptq" or "qat")) return $"its quantisation method '{Method}' is neither ptq nor qat";
        if (WeightBits is < TensorQuantization.MinBits or > TensorQuantization.MaxBits)
            return $"its weight bits {WeightBits} are outside {TensorQuantization.MinBits}..{TensorQuantization.MaxBits}";
        if (ActivationBits is { } a && (a < TensorQuantization.MinBits || a > TensorQuantization.MaxBits))
            return $"its activation bits {a} are outside {TensorQuantization.MinBits}..{TensorQuantization.MaxBits}";
        foreach (var (layer, q) in Inputs)
            if (q is null || q.Scales is null || q.ZeroPoints is null) return $"its input grid of {layer} lacks its scales or zero points";
        return null;
    }
}
