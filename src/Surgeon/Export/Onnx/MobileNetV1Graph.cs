using Surgeon.Models;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>
/// MobileNetV1.forward: conv1 + BN + ReLU, then per block a depthwise 3×3 (group = channels) + BN + ReLU and a
/// pointwise 1×1 + BN + ReLU, global average pool, flatten, linear. Every BN directly follows its conv and folds into it.
/// </summary>
internal static class MobileNetV1Graph
{
    public static string Emit(OnnxGraphBuilder g, MobileNetV1 model)
    {
        var layers = new ModuleTree(model);
        var x = ConvNormRelu(g, layers, "conv1", "bn1", "relu1", g.Input);
        for (int i = 0, blocks = layers.Count("layers"); i < blocks; i++)
        {
            string block = $"layers.{i}";
            x = ConvNormRelu(g, layers, $"{block}.conv1", $"{block}.bn1", $"{block}.relu1", x);
            x = ConvNormRelu(g, layers, $"{block}.conv2", $"{block}.bn2", $"{block}.relu2", x);
        }
        x = OnnxLayers.GlobalAveragePoolFlatten(g, "avgpool", x);
        return OnnxLayers.Linear(g, "linear", layers.Get<Linear>("linear"), x);
    }

    private static string ConvNormRelu(OnnxGraphBuilder g, ModuleTree layers, string conv, string norm, string relu, string x) =>
        OnnxLayers.Relu(g, relu, OnnxLayers.Conv(g, conv, layers.Get<Conv2d>(conv), layers.Get<SafeBatchNorm2d>(norm), x));
}
