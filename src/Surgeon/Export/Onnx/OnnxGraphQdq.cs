using System.Globalization;
using Google.Protobuf;
using Onnx;
using Surgeon.Compression;
using Surgeon.IO;
using Surgeon.Models.Onnx;
using Surgeon.Quantization;
using static TorchSharp.torch;

namespace Surgeon.Export.Onnx;

/// <summary>
/// An imported graph quantised by <see cref="PostTrainingQuantization"/> (<see cref="QuantizedModel"/>), written as the
/// imported file in QDQ form, the one ONNX Runtime recognises: each quantised layer's weight initializer becomes int8
/// codes → DequantizeLinear whose output keeps the weight's original name (so the Conv, Gemm or MatMul node reads what it
/// read before), with one scale and zero point, or one per output channel (axis 0; axis 1 for a MatMul's or an untransposed
/// Gemm's [in, out] weight); where activations are quantised, the layer's input passes QuantizeLinear → DequantizeLinear
/// with its grid; a BatchNormalization folded into its conv is removed and the conv writes the norm's output name, with
/// the folded weight and bias. Every other node, name and attribute is the file's, as <see cref="OnnxGraphExport"/> writes it.
/// The numbers are the quantised model's, which Surgeon's fake-quant forward runs.
/// </summary>
/// <remarks>New tensors are named after the layer as the registry's QDQ export names them ("conv1.weight_quantized",
/// "conv1.weight_scale", "conv1.input_scale", …; the prefix is the weight's name without ".weight").</remarks>
internal static class OnnxGraphQdq
{
    public static ModelProto Build(OnnxGraphModel model, QuantizedModel quantized)
    {
        var proto = OnnxGraphExport.Build(model);
        long opset = OnnxFile.Opset(proto);
        if (opset < 10)
            throw new SurgeonException($"{model.FileName} is ONNX opset {opset}; QDQ export needs QuantizeLinear/DequantizeLinear (opset 10, per-channel weights 13): re-export the model at opset 13");
        if (opset < 13 && quantized.Layers.Any(l => l.Quantization?.Axis is not null))
            throw new SurgeonException($"{model.FileName} is ONNX opset {opset}; per-channel weights need DequantizeLinear's axis (opset 13): quantise per tensor, or re-export the model at opset 13");
        var writer = new Rewriter(proto.Graph, model.FileName);
        var layers = model.Layers.ToDictionary(l => l.ModuleName, StringComparer.Ordinal);
        var norms = model.Layers.OfType<NormStep>().ToDictionary(n => n.ModuleName, StringComparer.Ordinal);
        foreach (var layer in quantized.Layers)
        {
            if (!layers.TryGetValue(layer.Name, out var step))
                throw new InvalidOperationException($"the quantised model names a layer {layer.Name} that {model.FileName} does not have");
            var node = writer.NodeOf(step.Node);
            if (layer.FoldedNorm is { } norm)
                writer.FoldNorm(node, norms[norm]);
            var (weightName, biasName, transposed) = step switch
            {
                ConvStep conv => (conv.WeightName, conv.BiasName, false),
                LinearStep linear => (linear.WeightName, linear.BiasName, linear.WeightIsInputByOutput),
                _ => throw new InvalidOperationException($"the quantised model's {layer.Name} is a {step.OpType} node, not a Conv, Gemm or MatMul"),
            };
            string prefix = weightName.EndsWith(".weight", StringComparison.Ordinal) ? weightName[..^".weight".Length] : weightName;
            writer.Weight(node, layer, weightName, prefix, transposed);
            if (layer.Bias is { } bias)
                writer.Bias(node, bias, biasName, prefix);
            if (quantized.Input(layer.Name) is { } grid)
                writer.QuantizeInput(node, layer.Name, grid, prefix);
        }
        return proto;
    }

    public static ExportResult Write(OnnxGraphModel model, QuantizedModel quantized, string path)
    {
        using var scope = NewDisposeScope();
        var proto = Build(model, quantized);
        AtomicFile.Write(path, stream => proto.WriteTo(stream));
        var c = CultureInfo.InvariantCulture;
        long codes = proto.Graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Int8 && t.Dims.Count >= 2).Sum(t => t.RawData.Length);
        long floats = proto.Graph.Initializer.Where(t => t.DataType == OnnxTensors.Float).Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
        return new ExportResult(path, new FileInfo(path).Length,
            $"QDQ ONNX opset {OnnxFile.Opset(proto)} (as imported), {proto.Graph.Node.Count} nodes, {codes.ToString("N0", c)} int8 weight codes, " +
            $"{floats.ToString("N0", c)} float32 values; {quantized.Describe()}");
    }

    /// <summary>Edits the cloned graph in place: initializers by name, nodes inserted before the layer they feed.</summary>
    private sealed class Rewriter
    {
        private readonly GraphProto graph;
        private readonly string fileName;
        private readonly HashSet<string> names = new(StringComparer.Ordinal);

        public Rewriter(GraphProto graph, string fileName)
        {
            this.graph = graph;
            this.fileName = fileName;
            foreach (var t in graph.Initializer) names.Add(t.Name);
            foreach (var v in graph.Input.Concat(graph.Output)) names.Add(v.Name);
            foreach (var n in graph.Node)
            {
                names.Add(n.Name);
                names.UnionWith(n.Output);
            }
        }

        /// <summary>The node of the written graph that is <paramref name="source"/> of the imported one (same op, same output).</summary>
        public NodeProto NodeOf(NodeProto source) =>
            graph.Node.FirstOrDefault(n => n.OpType == source.OpType && n.Output.Count > 0 && n.Output[0] == source.Output[0])
            ?? throw new InvalidOperationException($"{fileName}: the written graph lost the {source.OpType} node {source.Name}");

        /// <summary>The conv writes the norm's output; the norm node and its (now unread) initializers go.</summary>
        public void FoldNorm(NodeProto conv, NormStep norm)
        {
            var node = NodeOf(norm.Node);
            if (node.Input[0] != conv.Output[0])
                throw new InvalidOperationException($"{fileName}: the BatchNormalization {node.Name} does not read the conv {conv.Name}");
            conv.Output[0] = node.Output[0];
            graph.Node.Remove(node);
            foreach (string name in norm.Names.Distinct())
                if (!graph.Node.Any(n => n.Input.Contains(name)))
                    graph.Initializer.Remove(Initializer(name));
        }

        public void Weight(NodeProto node, QuantizedLayer layer, string weightName, string prefix, bool transposed)
        {
            int index = graph.Initializer.IndexOf(Initializer(weightName));
            long[] onnxShape = transposed ? [layer.Shape[1], layer.Shape[0]] : layer.Shape;
            if (layer.Quantization is not { } q || layer.Codes is not { } codes)
            {
                using var values = tensor(layer.Weight, layer.Shape);
                graph.Initializer[index] = OnnxTensors.FromTensor(weightName, transposed ? values.t() : values);
                return;
            }
            if (graph.Node.Count(n => n.Input.Contains(weightName)) != 1)
                throw new SurgeonException($"{fileName}: the weight {weightName} is read by more than one node; QDQ export quantises a weight of one layer");
            graph.Initializer.RemoveAt(index);
            sbyte[] onnxCodes = transposed ? Transpose(codes, (int)layer.Shape[0], (int)layer.Shape[1]) : codes;
            long[] gridDims = q.Axis is null ? [] : [q.Scales.Length];
            string codesName = Add(Int8(Unique($"{prefix}.weight_quantized"), onnxCodes, onnxShape));
            string scale = Add(Floats(Unique($"{prefix}.weight_scale"), q.Scales.Select(s => (float)s).ToArray(), gridDims));
            string zero = Add(Int8(Unique($"{prefix}.weight_zero_point"), q.ZeroPoints.Select(z => (sbyte)z).ToArray(), gridDims));
            var dequantize = NewNode(Unique($"{prefix}.weight_dequantize"), "DequantizeLinear", [codesName, scale, zero], weightName);
            if (q.Axis is not null)
                dequantize.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = transposed ? 1 : 0 });
            graph.Node.Insert(graph.Node.IndexOf(node), dequantize);
        }

        /// <summary>The layer's float bias (folded); a conv that had none but folds a norm gets one.</summary>
        public void Bias(NodeProto node, float[] bias, string? biasName, string prefix)
        {
            if (biasName is not null)
            {
                int index = graph.Initializer.IndexOf(Initializer(biasName));
                var original = graph.Initializer[index];
                var written = Floats(biasName, bias, [bias.Length]);
                if (original.Dims.Aggregate(1L, (a, b) => a * b) == bias.Length)
                {
                    written.Dims.Clear();
                    written.Dims.AddRange(original.Dims); // a [1, out] bias keeps its shape
                }
                graph.Initializer[index] = written;
                return;
            }
            if (node.OpType != "Conv" || node.Input.Count != 2)
                throw new InvalidOperationException($"{fileName}: a bias appeared for the {node.OpType} node {node.Name}, which has no bias input to take it");
            node.Input.Add(Add(Floats(Unique($"{prefix}.bias"), bias, [bias.Length])));
        }

        public void QuantizeInput(NodeProto node, string layer, TensorQuantization q, string prefix)
        {
            if (q.Bits != 8 || q.Axis is not null)
                throw new SurgeonException($"QDQ export quantises activations per tensor to 8 bits (ONNX's int8), but {layer}'s input has a {q.Bits}-bit grid{(q.Axis is null ? "" : " per channel")}");
            string scale = Add(Floats(Unique($"{prefix}.input_scale"), [(float)q.Scales[0]], []));
            string zero = Add(Int8(Unique($"{prefix}.input_zero_point"), [(sbyte)q.ZeroPoints[0]], []));
            string quantized = Unique($"{prefix}.input_quantized"), dequantized = Unique($"{prefix}.input_dequantized");
            int at = graph.Node.IndexOf(node);
            graph.Node.Insert(at, NewNode(quantized, "QuantizeLinear", [node.Input[0], scale, zero], quantized));
            graph.Node.Insert(at + 1, NewNode(dequantized, "DequantizeLinear", [quantized, scale, zero], dequantized));
            node.Input[0] = dequantized;
        }

        private TensorProto Initializer(string name) =>
            graph.Initializer.FirstOrDefault(t => t.Name == name)
            ?? throw new InvalidOperationException($"{fileName}: the graph has no initializer {name}");

        private string Add(TensorProto t)
        {
            graph.Initializer.Add(t);
            return t.Name;
        }

        private string Unique(string name)
        {
            string unique = name;
            for (int i = 2; !names.Add(unique); i++) unique = $"{name}_{i}";
            return unique;
        }

        private static NodeProto NewNode(string name, string op, string[] inputs, string output)
        {
            var node = new NodeProto { Name = name, OpType = op };
            node.Input.AddRange(inputs);
            node.Output.Add(output);
            return node;
        }

        private static TensorProto Floats(string name, float[] values, long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = OnnxTensors.Float };
            t.Dims.AddRange(dims);
            t.FloatData.AddRange(values);
            return t;
        }

        private static TensorProto Int8(string name, sbyte[] values, long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom((byte[])(Array)values) };
            t.Dims.AddRange(dims);
            return t;
        }

        /// <summary>Row-major [rows, cols] → [cols, rows].</summary>
        private static sbyte[] Transpose(sbyte[] values, int rows, int cols)
        {
            var result = new sbyte[values.Length];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    result[c * rows + r] = values[r * cols + c];
            return result;
        }
    }
}
