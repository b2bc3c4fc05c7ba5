using Surgeon.Models;
using TorchSharp.Modules;

namespace Surgeon.Export.Onnx;

/// <summary>
/// LeNet5.forward: conv1 (with bias) → 2×2 max-pool → conv2 → 2×2 max-pool → flatten → fc1 → ReLU → fc2. No ReLU
/// after the convs (Caffe's LeNet) and no BatchNorm. ONNX's Flatten of N×C×H×W keeps TorchSharp's row-major order, so
/// fc1's weight applies unchanged.
/// </summary>
internal static class LeNet5Graph
{
    public static string Emit(OnnxGraphBuilder g, LeNet5 model)
    {
        var layers = new ModuleTree(model);
        var x = OnnxLayers.Conv(g, "conv1", layers.Get<Conv2d>("conv1"), norm: null, g.Input);
        x = OnnxLayers.MaxPool(g, "pool1", x, kernel: 2, stride: 2);
        x = OnnxLayers.Conv(g, "conv2", layers.Get<Conv2d>("conv2"), norm: null, x);
        x = OnnxLayers.MaxPool(g, "pool2", x, kernel: 2, stride: 2);
        x = OnnxLayers.Flatten(g, "flatten", x);
        x = OnnxLayers.Relu(g, "relu1", OnnxLayers.Linear(g, "fc1", layers.Get<Linear>("fc1"), x));
        return OnnxLayers.Linear(g, "fc2", layers.Get<Linear>("fc2"), x);
    }
}
