using Surgeon.Models;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>MLPNet.forward: flatten(1), then fc1 → ReLU → fc2 → ReLU → fc3 (bias-free Gemms).</summary>
internal static class MlpNetGraph
{
    public static string Emit(OnnxGraphBuilder g, MLPNet model, ModelSpec spec)
    {
        var layers = new ModuleTree(model);
        var fc1 = layers.Get<Linear>("fc1");
        long features = spec.InputShape.Aggregate(1L, (a, b) => a * b);
        if (fc1.in_features != features)
            throw new SurgeonException($"ONNX export: the mlpnet's first layer takes {fc1.in_features} inputs, but a {spec.InputShapeText} input has {features}");
        var x = OnnxLayers.Flatten(g, "flatten", g.Input);
        x = OnnxLayers.Relu(g, "relu1", OnnxLayers.Linear(g, "fc1", fc1, x));
        x = OnnxLayers.Relu(g, "relu2", OnnxLayers.Linear(g, "fc2", layers.Get<Linear>("fc2"), x));
        return OnnxLayers.Linear(g, "fc3", layers.Get<Linear>("fc3"), x);
    }
}
