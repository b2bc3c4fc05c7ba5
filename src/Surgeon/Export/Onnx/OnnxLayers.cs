using Surgeon.Models;
using TorchSharp;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>
/// One TorchSharp layer (or functional op) as ONNX nodes of opset <see cref="OnnxExport.OpsetVersion"/>. Nodes are
/// named after the module's state-dict path, and their weights after the parameter ("layer1.0.conv1.weight"), so the
/// exported graph reads like the model.
/// </summary>
internal static class OnnxLayers
{
    /// <summary>
    /// Conv2d (depthwise and grouped included, through the group attribute), with the inference-mode BatchNorm that
    /// follows it, if any, folded into its weight and bias (see <see cref="BatchNormFolding"/>).
    /// </summary>
    public static string Conv(OnnxGraphBuilder g, string name, Conv2d conv, SafeBatchNorm2d? norm, string x)
    {
        if (conv.transposed)
            throw new SurgeonException($"ONNX export: {name} is a transposed convolution, which no Surgeon model has");
        if (conv.padding_mode != PaddingModes.Zeros)
            throw new SurgeonException($"ONNX export: {name} pads with {conv.padding_mode}; only zero padding maps onto ONNX Conv");
        long[] padding = conv.padding ?? throw new SurgeonException($"ONNX export: {name} has symbolic padding ({conv.padding_type}), not explicit sizes");
        var shape = TensorData.Shape(conv.weight);
        List<string> inputs;
        if (QdqLayers.Find(g, name, folded: norm is not null) is { } quantized)
            inputs = QdqLayers.Inputs(g, name, quantized, x);
        else
        {
            var weight = TensorData.Floats(conv.weight);
            float[]? bias = conv.bias is null ? null : TensorData.Floats(conv.bias);
            if (norm is not null)
                (weight, bias) = BatchNormFolding.IntoPrecedingConv(weight, bias, ChannelAffine.Of(norm));
            inputs = [x, g.Initializer($"{name}.weight", weight, shape)];
            if (bias is not null)
                inputs.Add(g.Initializer($"{name}.bias", bias, shape[0]));
        }
        return g.Node(name, "Conv", inputs,
            OnnxAttribute.Of("kernel_shape", shape[2], shape[3]),
            OnnxAttribute.Of("strides", conv.stride),
            OnnxAttribute.Of("pads", padding[0], padding[1], padding[0], padding[1]), // begin (top, left), then end (bottom, right)
            OnnxAttribute.Of("dilations", conv.dilation),
            OnnxAttribute.Of("group", conv.groups));
    }

    /// <summary>
    /// Linear as Gemm (Y = X·Wᵀ + b, transB = 1, so the [out, in] weight is stored as it is). A BatchNorm whose
    /// channels are this layer's inputs may be folded in (<paramref name="inputNorm"/>) when only per-channel linear
    /// maps separate them.
    /// </summary>
    public static string Linear(OnnxGraphBuilder g, string name, Linear linear, string x, ChannelAffine? inputNorm = null)
    {
        if (QdqLayers.Find(g, name, folded: inputNorm is not null) is { } quantized)
            return g.Node(name, "Gemm", QdqLayers.Inputs(g, name, quantized, x), OnnxAttribute.Of("transB", 1L));
        var weight = TensorData.Floats(linear.weight);
        float[]? bias = linear.bias is null ? null : TensorData.Floats(linear.bias);
        if (inputNorm is not null)
            (weight, bias) = BatchNormFolding.IntoFollowingLinear(weight, bias, (int)linear.out_features, inputNorm);
        var inputs = new List<string> { x, g.Initializer($"{name}.weight", weight, linear.out_features, linear.in_features) };
        if (bias is not null)
            inputs.Add(g.Initializer($"{name}.bias", bias, linear.out_features));
        return g.Node(name, "Gemm", inputs, OnnxAttribute.Of("transB", 1L));
    }

    /// <summary>An inference-mode BatchNorm kept as its own node (where it cannot be folded into a neighbour).</summary>
    public static string BatchNorm(OnnxGraphBuilder g, string name, SafeBatchNorm2d norm, string x)
    {
        long n = norm.Features;
        return g.Node(name, "BatchNormalization",
            [
                x,
                g.Initializer($"{name}.weight", TensorData.Floats(norm.weight), n),
                g.Initializer($"{name}.bias", TensorData.Floats(norm.bias), n),
                g.Initializer($"{name}.running_mean", TensorData.Floats(norm.running_mean), n),
                g.Initializer($"{name}.running_var", TensorData.Floats(norm.running_var), n),
            ],
            OnnxAttribute.Of("epsilon", (float)norm.Eps));
    }

    public static string Relu(OnnxGraphBuilder g, string name, string x) => g.Node(name, "Relu", [x]);

    /// <summary>max_pool2d(x, k, stride) without padding, rounding the output size down (ONNX's ceil_mode = 0).</summary>
    public static string MaxPool(OnnxGraphBuilder g, string name, string x, long kernel, long stride) =>
        g.Node(name, "MaxPool", [x], OnnxAttribute.Of("kernel_shape", kernel, kernel), OnnxAttribute.Of("strides", stride, stride));

    /// <summary>adaptive_avg_pool2d(x, 1).flatten(1): the mean over each channel's map, as [N, C].</summary>
    public static string GlobalAveragePoolFlatten(OnnxGraphBuilder g, string name, string x) =>
        Flatten(g, $"{name}.flatten", g.Node(name, "GlobalAveragePool", [x]));

    /// <summary>flatten(1): [N, …] to [N, product of the rest].</summary>
    public static string Flatten(OnnxGraphBuilder g, string name, string x) => g.Node(name, "Flatten", [x], OnnxAttribute.Of("axis", 1L));

    public static string Add(OnnxGraphBuilder g, string name, string a, string b) => g.Node(name, "Add", [a, b]);
}
