using Surgeon.Compression;
using Surgeon.Quantization;

namespace Surgeon.Export.Onnx;

/// <summary>
/// The inputs of a Conv or Gemm node of a quantised model in QDQ form, the one ONNX Runtime recognises: the weight as
/// int8 codes → DequantizeLinear (one scale and zero point, or one per output channel with axis = 0), the input, where
/// activations are quantised, through QuantizeLinear → DequantizeLinear with the layer's input grid, and the folded bias
/// as float32. The numbers are those of the <see cref="QuantizedModel"/>, which Surgeon's fake-quant forward also runs.
/// </summary>
internal static class QdqLayers
{
    /// <summary>The layer of the graph's quantised model, or null for a float graph.</summary>
    public static QuantizedLayer? Find(OnnxGraphBuilder g, string name, bool folded)
    {
        if (g.Quantized is not { } model) return null;
        var layer = model.Layer(name) ?? throw new InvalidOperationException($"the quantised model has no layer {name}");
        if ((layer.FoldedNorm is not null) != folded)
            throw new InvalidOperationException(
                $"the quantised model {(folded ? "does not fold" : $"folds {layer.FoldedNorm} into")} {name}, but the ONNX graph {(folded ? "does" : "does not")}");
        if (!g.QuantizedLayersWritten.Add(name))
            throw new InvalidOperationException($"the ONNX graph writes the quantised layer {name} twice");
        return layer;
    }

    /// <summary>[input, weight, bias?] for the node of <paramref name="layer"/>.</summary>
    public static List<string> Inputs(OnnxGraphBuilder g, string name, QuantizedLayer layer, string x)
    {
        var inputs = new List<string> { Input(g, name, x), Weight(g, name, layer) };
        if (layer.Bias is not null)
            inputs.Add(g.Initializer($"{name}.bias", layer.Bias, layer.Shape[0]));
        return inputs;
    }

    private static string Weight(OnnxGraphBuilder g, string name, QuantizedLayer layer)
    {
        if (layer.Quantization is not { } q || layer.Codes is not { } codes)
            return g.Initializer($"{name}.weight", layer.Weight, layer.Shape);
        long[] gridDims = q.Axis is null ? [] : [q.Scales.Length];
        string quantized = g.Int8Initializer($"{name}.weight_quantized", codes, layer.Shape);
        string scale = g.Initializer($"{name}.weight_scale", q.Scales.Select(s => (float)s).ToArray(), gridDims);
        string zero = g.Int8Initializer($"{name}.weight_zero_point", q.ZeroPoints.Select(z => (sbyte)z).ToArray(), gridDims);
        return q.Axis is int axis
            ? g.Node($"{name}.weight", "DequantizeLinear", [quantized, scale, zero], OnnxAttribute.Of("axis", (long)axis))
            : g.Node($"{name}.weight", "DequantizeLinear", [quantized, scale, zero]);
    }

    private static string Input(OnnxGraphBuilder g, string name, string x)
    {
        if (g.Quantized!.Input(name) is not TensorQuantization q) return x;
        if (q.Bits != 8 || q.Axis is not null)
            throw new SurgeonException($"QDQ export quantises activations per tensor to 8 bits (ONNX's int8), but {name}'s input has a {q.Bits}-bit grid{(q.Axis is null ? "" : " per channel")}");
        string scale = g.Initializer($"{name}.input_scale", [(float)q.Scales[0]]);
        string zero = g.Int8Initializer($"{name}.input_zero_point", [(sbyte)q.ZeroPoints[0]]);
        string quantized = g.Node($"{name}.input_quantized", "QuantizeLinear", [x, scale, zero]);
        return g.Node($"{name}.input_dequantized", "DequantizeLinear", [quantized, scale, zero]);
    }
}
