using Surgeon.Models;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>
/// CifarResNet.forward: conv1 + BN + ReLU; per basic block relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the
/// shortcut the identity or a 1×1 conv + BN projection; global average pool, flatten, linear. Every BN directly
/// follows its conv and folds into it.
/// </summary>
internal static class CifarResNetGraph
{
    public static string Emit(OnnxGraphBuilder g, CifarResNet model)
    {
        var layers = new ModuleTree(model);
        var x = OnnxLayers.Relu(g, "relu1", ConvNorm(g, layers, "conv1", "bn1", g.Input));
        foreach (string stage in new[] { "layer1", "layer2", "layer3" })
            for (int b = 0, blocks = layers.Count(stage); b < blocks; b++)
                x = BasicBlock(g, layers, $"{stage}.{b}", x);
        x = OnnxLayers.GlobalAveragePoolFlatten(g, "avgpool", x);
        return OnnxLayers.Linear(g, "linear", layers.Get<Linear>("linear"), x);
    }

    private static string BasicBlock(OnnxGraphBuilder g, ModuleTree layers, string block, string input)
    {
        var x = OnnxLayers.Relu(g, $"{block}.relu1", ConvNorm(g, layers, $"{block}.conv1", $"{block}.bn1", input));
        x = ConvNorm(g, layers, $"{block}.conv2", $"{block}.bn2", x);
        string residual = layers.Has($"{block}.shortcut")
            ? ConvNorm(g, layers, $"{block}.shortcut.conv", $"{block}.shortcut.bn", input)
            : input;
        return OnnxLayers.Relu(g, $"{block}.relu2", OnnxLayers.Add(g, $"{block}.add", x, residual));
    }

    private static string ConvNorm(OnnxGraphBuilder g, ModuleTree layers, string conv, string norm, string x) =>
        OnnxLayers.Conv(g, conv, layers.Get<Conv2d>(conv), layers.Get<SafeBatchNorm2d>(norm), x);
}
