using Surgeon.Compression;

namespace Surgeon.Quantization;

/// <summary>
/// One Conv2d or Linear layer as a quantised model runs it: its weight with any BatchNorm folded in
/// (<see cref="FoldedNorm"/>), then, when <see cref="Quantization"/> is set, on that grid (<see cref="Codes"/>, and
/// <see cref="Weight"/> their float32 values); the bias (folded, float32) stays in float.
/// </summary>
/// <param name="Name">The layer's module path ("layer1.0.conv1").</param>
/// <param name="Shape">The weight's shape ([out, in/groups, kh, kw] or [out, in]).</param>
internal sealed record QuantizedLayer(string Name, long[] Shape, float[] Weight, float[]? Bias, TensorQuantization? Quantization,
    sbyte[]? Codes, string? FoldedNorm);

/// <summary>
/// A model prepared for quantised inference: every Conv2d and Linear layer (<see cref="QuantizedLayer"/>), the
/// BatchNorms folded into them (which then act as the identity), and the grid of each layer's input where activations
/// are quantised. <see cref="FakeQuantForward"/> runs it in TorchSharp; ONNX export writes it as a QDQ graph. Both read
/// these same numbers, so they compute the same function.
/// </summary>
internal sealed record QuantizedModel(
    IReadOnlyList<QuantizedLayer> Layers,
    IReadOnlyList<string> FoldedNorms,
    IReadOnlyDictionary<string, TensorQuantization> Inputs,
    WeightQuantizationSettings? WeightSettings,
    ActivationQuantizationSettings? ActivationSettings)
{
    public QuantizedLayer? Layer(string name) => Layers.FirstOrDefault(l => l.Name == name);

    /// <summary>The grid of <paramref name="layer"/>'s input, or null when its input stays in float.</summary>
    public TensorQuantization? Input(string layer) => Inputs.GetValueOrDefault(layer);

    public string Describe() =>
        (WeightSettings?.Describe() ?? "float weights") + "; " + (ActivationSettings?.Describe() ?? "float activations") +
        $"; {FoldedNorms.Count} BatchNorms folded";
}
