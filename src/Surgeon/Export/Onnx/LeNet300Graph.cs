using Surgeon.Models;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>LeNet300.forward: flatten(1), then fc1 → ReLU → fc2 → ReLU → fc3 (Gemms with biases).</summary>
internal static class LeNet300Graph
{
    public static string Emit(OnnxGraphBuilder g, LeNet300 model)
    {
        var layers = new ModuleTree(model);
        var x = OnnxLayers.Flatten(g, "flatten", g.Input);
        x = OnnxLayers.Relu(g, "relu1", OnnxLayers.Linear(g, "fc1", layers.Get<Linear>("fc1"), x));
        x = OnnxLayers.Relu(g, "relu2", OnnxLayers.Linear(g, "fc2", layers.Get<Linear>("fc2"), x));
        return OnnxLayers.Linear(g, "fc3", layers.Get<Linear>("fc3"), x);
    }
}
