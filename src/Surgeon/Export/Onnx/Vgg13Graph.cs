using Surgeon.Models;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>
/// Vgg13.forward: per conv i, conv → ReLU → BN, then a 2×2 max-pool where the model has one; global average pool,
/// flatten, classifier.
/// </summary>
/// <remarks>
/// The BatchNorm comes after the ReLU here, so it cannot fold into the conv before it (ReLU is not linear). Nor, in
/// general, into the conv after it: that conv zero-pads its input, and a zero after the norm is −t/s before it, so
/// the folded conv would be wrong on every border pixel; and a max-pool between them commutes with s·x + t only where
/// every scale s is positive. So each BN stays a BatchNormalization node (one fused scale-and-shift in a runtime),
/// except the last one when no max-pool follows it: then only the global average pool, linear per channel, lies
/// between it and the classifier, and it folds into the classifier exactly.
/// </remarks>
internal static class Vgg13Graph
{
    public static string Emit(OnnxGraphBuilder g, Vgg13 model)
    {
        var layers = new ModuleTree(model);
        int convs = layers.Count("features");
        if (convs != model.PoolAfter.Count)
            throw new InvalidOperationException($"vgg13 has {convs} convs but {model.PoolAfter.Count} pool flags");
        string x = g.Input;
        ChannelAffine? lastNorm = null;
        for (int i = 0; i < convs; i++)
        {
            string layer = $"features.{i}";
            x = OnnxLayers.Conv(g, $"{layer}.conv", layers.Get<Conv2d>($"{layer}.conv"), norm: null, x);
            x = OnnxLayers.Relu(g, $"{layer}.relu", x);
            var norm = layers.Get<SafeBatchNorm2d>($"{layer}.bn");
            if (i == convs - 1 && !model.PoolAfter[i])
                lastNorm = ChannelAffine.Of(norm);
            else
                x = OnnxLayers.BatchNorm(g, $"{layer}.bn", norm, x);
            if (model.PoolAfter[i])
                x = OnnxLayers.MaxPool(g, $"{layer}.pool", x, kernel: 2, stride: 2);
        }
        x = OnnxLayers.GlobalAveragePoolFlatten(g, "avgpool", x);
        return OnnxLayers.Linear(g, "classifier", layers.Get<Linear>("classifier"), x, inputNorm: lastNorm);
    }
}
