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
public static class OnnxGraphExport
{
    public static ModelProto Build(OnnxGraphModel model)
    {
        var proto = model.Source.Clone();
        var graph = proto.Graph;
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Initializer.Count; i++) byName[graph.Initializer[i].Name] = i;
        foreach (var layer in model.Layers)
        {
            foreach (var (name, value) in layer.Initializers())
            {
                if (!byName.TryGetValue(name, out int index))
                    throw new InvalidOperationException($"{model.FileName}: the layer {layer.ModuleName} names initializer {name}, which the graph lacks");
                var original = graph.Initializer[index];
                var written = OnnxTensors.FromTensor(name, value);
                // A bias stored as [1, out] (or any shape of its count) keeps its rank where its count is unchanged.
                if (original.Dims.Aggregate(1L, (a, b) => a * b) == written.Dims.Aggregate(1L, (a, b) => a * b))
                {
                    written.Dims.Clear();
                    written.Dims.AddRange(original.Dims);
                }
                else if (original.Dims.Count != written.Dims.Count && written.Dims.Count == 1)
                {
                    var dims = original.Dims.ToArray();
                    dims[^1] = written.Dims[0];
                    written.Dims.Clear();
                    written.Dims.AddRange(dims);
                }
                graph.Initializer[index] = written;
            }
            if (layer.OpType == "Gemm")
            {
                var node = graph.Node.First(n => n.Name == layer.Node.Name && n.OpType == "Gemm" && n.Output[0] == layer.Node.Output[0]);
                foreach (var attribute in node.Attribute.Where(a => a.Name is "alpha" or "beta"))
                    attribute.F = 1f;
            }
        }
        graph.ValueInfo.Clear();
        // Inputs that repeat initializers (older exporters list them) take the new shapes too.
        foreach (var input in graph.Input.Where(i => byName.ContainsKey(i.Name)).ToList())
            graph.Input.Remove(input);
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
