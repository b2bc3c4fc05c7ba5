using Onnx;
using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>
/// The imported file with each layer's initializers replaced by the layer's current values (or by the values a shrink
/// gives, keyed by state name): the same nodes, names, attributes and opset. Gemm's alpha and beta, folded into the
/// weights on import, become 1; intermediate value_info (shapes a shrink may change) is dropped, runtimes infer it.
/// </summary>
internal static class OnnxGraphWriter
{
    /// <param name="replace">Values by state-dict name ("conv1.weight") that take the place of the model's own.</param>
    public static ModelProto Write(OnnxGraphModel model, IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        var proto = model.Source.Clone();
        var graph = proto.Graph;
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Initializer.Count; i++) byName[graph.Initializer[i].Name] = i;
        foreach (var layer in model.Layers)
        {
            var state = layer.Module.state_dict();
            foreach (var (name, local, transposed) in layer.Bindings())
            {
                if (!byName.TryGetValue(name, out int index))
                    throw new InvalidOperationException($"{model.FileName}: the layer {layer.ModuleName} names initializer {name}, which the graph lacks");
                var value = replace?.GetValueOrDefault($"{layer.ModuleName}.{local}") ?? state[local];
                var original = graph.Initializer[index];
                var written = OnnxTensors.FromTensor(name, transposed ? value.t() : value);
                // A bias stored as [1, out] (any shape of its count) keeps its rank, with the new count last.
                if (original.Dims.Count != written.Dims.Count && written.Dims.Count == 1)
                {
                    var dims = original.Dims.ToArray();
                    dims[^1] = written.Dims[0];
                    written.Dims.Clear();
                    written.Dims.AddRange(dims);
                }
                graph.Initializer[index] = written;
            }
            // A depthwise conv (group = channels) that lost channels has as many groups as channels left.
            if (layer is ConvStep { Groups: > 1 } conv && conv.Groups == conv.Conv.out_channels)
            {
                long left = (replace?.GetValueOrDefault($"{layer.ModuleName}.weight") ?? conv.Conv.weight!).shape[0];
                var node = graph.Node.First(n => n.OpType == "Conv" && n.Output[0] == layer.Node.Output[0]);
                node.Attribute.First(a => a.Name == "group").I = left;
            }
            if (layer.OpType == "Gemm")
            {
                var node = graph.Node.First(n => n.OpType == "Gemm" && n.Output[0] == layer.Node.Output[0]);
                foreach (var attribute in node.Attribute.Where(a => a.Name is "alpha" or "beta"))
                    attribute.F = 1f;
            }
        }
        graph.ValueInfo.Clear();
        // Inputs that repeat initializers (older exporters list them) would keep the old shapes: the initializers suffice.
        foreach (var input in graph.Input.Where(i => byName.ContainsKey(i.Name)).ToList())
            graph.Input.Remove(input);
        return proto;
    }
}
