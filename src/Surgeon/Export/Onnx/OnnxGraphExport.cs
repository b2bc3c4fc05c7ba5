using System.Globalization;
using Google.Protobuf;
using Onnx;
using Surgeon.IO;
using Surgeon.Models.Onnx;

namespace Surgeon.Export.Onnx;

/// <summary>
/// An imported graph (<see cref="OnnxGraphModel"/>) written back as ONNX: the file it came from, node for node, with
/// the same node, value and initializer names, attributes and opset; only each layer's initializers take the layer's
/// current values (pruned weights as their zeros, BatchNorm statistics as they are now, shapes as they are after a
/// shrink). Gemm's alpha and beta, folded into the weights on import, become 1; intermediate value_info (shapes a
/// shrink may have changed) is dropped, as ONNX Runtime infers it.
/// </summary>
internal static class OnnxGraphExport
{
    public static ModelProto Build(OnnxGraphModel model)
    {
        var proto = OnnxGraphWriter.Write(model);
        proto.ProducerName = "surgeon";
        proto.ProducerVersion = typeof(OnnxGraphExport).Assembly.GetName().Version?.ToString() ?? "0";
        return proto;
    }

    public static ExportResult Write(OnnxGraphModel model, string path)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        var proto = Build(model);
        AtomicFile.Write(path, stream => proto.WriteTo(stream));
        long weights = model.Layers.SelectMany(l => l.Initializers()).Sum(t => t.Value.numel());
        long zeros = model.Layers.SelectMany(l => l.Initializers()).Where(t => t.Value.dim() >= 2).Sum(t => t.Value.eq(Numerics.HeldScalars.Of(0)).sum().item<long>());
        return new ExportResult(path, new FileInfo(path).Length,
            $"ONNX opset {OnnxFile.Opset(proto)} (as imported), {proto.Graph.Node.Count} nodes, {weights.ToString("N0", CultureInfo.InvariantCulture)} layer values, " +
            $"{zeros.ToString("N0", CultureInfo.InvariantCulture)} zero weights");
    }
}
