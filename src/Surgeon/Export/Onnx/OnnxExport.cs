using System.Globalization;
using Surgeon.IO;
using Surgeon.Models;
using Surgeon.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Export.Onnx;

/// <summary>
/// A registry model as an ONNX inference graph: input "input" [batch, C, H, W] (batch symbolic), output "logits"
/// [batch, classes], float32 weights as initializers. The graph is the model's eval-mode forward: BatchNorms use their
/// running statistics (folded into the neighbouring conv or linear where that is exact), whatever mode the module is
/// in. Pruned weights are exported as the zeros they are; a filter-pruned model exports at its smaller size.
/// </summary>
internal static class OnnxExport
{
    /// <summary>Opset 13 has every operator used here in its current form, and ONNX Runtime 1.8 and later run it.</summary>
    public const long OpsetVersion = 13;

    /// <summary>IR version 7 is the one that goes with opset 13 (ONNX 1.8).</summary>
    public const long IrVersion = 7;

    public const string InputName = "input", OutputName = "logits";

    /// <summary>
    /// The model's graph; with <paramref name="quantized"/> (the model prepared by
    /// <see cref="PostTrainingQuantization"/>) a QDQ graph of its folded, quantised weights and quantised inputs.
    /// </summary>
    public static OnnxModel Build(nn.Module<Tensor, Tensor> model, ModelSpec spec, QuantizedModel? quantized = null)
    {
        if (spec.InputShape.Length != 3)
            throw new SurgeonException($"ONNX export needs a C×H×W input shape, got {spec.InputShapeText}");
        var g = new OnnxGraphBuilder(InputName, quantized);
        using (no_grad())
        {
            string logits = model switch
            {
                MLPNet mlp => MlpNetGraph.Emit(g, mlp, spec),
                Vgg13 vgg => Vgg13Graph.Emit(g, vgg),
                MobileNetV1 mobileNet => MobileNetV1Graph.Emit(g, mobileNet),
                CifarResNet resNet => CifarResNetGraph.Emit(g, resNet),
                LeNet5 leNet5 => LeNet5Graph.Emit(g, leNet5),
                LeNet300 leNet300 => LeNet300Graph.Emit(g, leNet300),
                _ => throw new SurgeonException($"ONNX export does not know the {model.GetType().Name} model; it exports {string.Join(", ", ModelRegistry.Names)}"),
            };
            var input = new OnnxValueInfo(InputName, [OnnxDim.Symbolic("batch"), spec.InputShape[0], spec.InputShape[1], spec.InputShape[2]]);
            var output = new OnnxValueInfo(OutputName, [OnnxDim.Symbolic("batch"), spec.NumClasses]);
            var graph = g.Build(spec.Architecture, input, logits, output);
            if (quantized is not null && quantized.Layers.FirstOrDefault(l => !g.QuantizedLayersWritten.Contains(l.Name)) is { } missed)
                throw new InvalidOperationException($"the ONNX graph of the {spec.Architecture} does not use the quantised layer {missed.Name}");
            string version = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0";
            string description = Describe(spec) + (quantized is null ? "" : "; quantised (QDQ): " + quantized.Describe());
            return new OnnxModel(graph, IrVersion, OpsetVersion, "surgeon", version, description);
        }
    }

    /// <summary>Writes the model's ONNX file atomically (a temporary file renamed over <paramref name="path"/>).</summary>
    public static ExportResult Write(nn.Module<Tensor, Tensor> model, ModelSpec spec, string path, QuantizedModel? quantized = null)
    {
        var onnx = Build(model, spec, quantized);
        AtomicFile.Write(path, stream => OnnxWriter.Write(onnx, stream));
        long weights = onnx.Graph.Initializers.Sum(t => (long)t.Data.Length);
        long codes = onnx.Graph.Int8Initializers.Sum(t => (long)t.Data.Length);
        return new ExportResult(path, new FileInfo(path).Length,
            $"ONNX opset {OpsetVersion}, {onnx.Graph.Nodes.Count} nodes, {weights.ToString("N0", CultureInfo.InvariantCulture)} weights" +
            (codes == 0 ? "" : $" in float32 and {codes.ToString("N0", CultureInfo.InvariantCulture)} int8 codes"));
    }

    private static string Describe(ModelSpec spec) =>
        $"{spec.Architecture}, width {spec.Width.ToString("G4", CultureInfo.InvariantCulture)}" +
        (spec.Channels is null ? "" : $", channels {string.Join(',', spec.Channels)}") +
        $", {spec.InputShapeText} inputs, {spec.NumClasses} classes; BatchNorm in inference mode";
}
