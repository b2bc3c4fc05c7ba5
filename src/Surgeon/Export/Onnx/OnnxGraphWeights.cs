using System.Globalization;
using Google.Protobuf;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.IO;
using Surgeon.Models.Onnx;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Export.Onnx;

/// <summary>
/// <c>surgeon export --onnx m.onnx --format safetensors|sparse</c>: an imported graph's layer tensors (Conv, Gemm/MatMul
/// weights and biases, BatchNorm scale, shift and statistics) under their ONNX initializer names and in the file's layout
/// (a MatMul weight stays [in, out]), the values the written ONNX file would hold. The graph's other constants (Reshape
/// shapes, Clip bounds) are no weights and are left out. Named by initializer, not by the module names of the graph model,
/// so that a PyTorch export's "layer1.0.conv1.weight" stays that name. <see cref="Import"/> reads either file back onto a graph.
/// </summary>
internal static class OnnxGraphWeights
{
    /// <summary>The metadata key (safetensors) naming the ONNX file the weights came from.</summary>
    public const string SourceKey = "surgeon.onnx";

    public static IReadOnlyList<StateTensor> Read(OnnxGraphModel model)
    {
        if (!BitConverter.IsLittleEndian)
            throw new SurgeonException("sparse and safetensors files are little-endian; this machine is big-endian, which surgeon does not support");
        using var scope = NewDisposeScope();
        var result = new List<StateTensor>();
        foreach (var (name, value) in model.Layers.SelectMany(l => l.Initializers()))
        {
            var cpu = value.detach().cpu().contiguous();
            result.Add(new StateTensor(name, ElementTypes.NameOf(cpu.dtype), cpu.shape.ToArray(), cpu.bytes.ToArray()));
        }
        return result;
    }

    public static ExportResult WriteSafetensors(OnnxGraphModel model, string path)
    {
        var tensors = Read(model);
        var metadata = new Dictionary<string, string> { ["format"] = "pt", [SourceKey] = model.FileName };
        var bytes = SafetensorsWriter.Build(tensors, metadata);
        AtomicFile.WriteAllBytes(path, bytes);
        var c = CultureInfo.InvariantCulture;
        return new ExportResult(path, bytes.LongLength,
            $"safetensors, {tensors.Count} layer tensors of {model.FileName} by ONNX initializer name, {tensors.Sum(t => t.Elements).ToString("N0", c)} values");
    }

    /// <summary>
    /// The sparse file of the layer tensors; <paramref name="info"/> is the header's model description (architecture
    /// "onnx", the graph's input shape and classes). Measured against the dense ONNX file of the same graph and its gzip.
    /// </summary>
    public static ExportResult WriteSparse(OnnxGraphModel model, CheckpointInfo info, string path)
    {
        var tensors = Read(model);
        var (bytes, entries) = SparseFile.Build(info, tensors);
        byte[] dense;
        using (var scope = NewDisposeScope())
            dense = OnnxGraphExport.Build(model).ToByteArray();
        long gzip = GzipSize(dense);
        AtomicFile.WriteAllBytes(path, bytes); // last, so that nothing is written when anything before fails
        var byEncoding = Enum.GetValues<SparseEncoding>().ToDictionary(e => e, e => entries.Count(x => x.Encoding == SparseBlocks.Name(e)));
        var report = new SparseSizeReport(bytes.LongLength, dense.LongLength, gzip, entries.Sum(e => e.Stored), tensors.Sum(t => t.Elements), byEncoding);
        return new ExportResult(path, bytes.LongLength, SparseExport.Describe(report, "dense ONNX file"));
    }

    /// <summary>
    /// The read-back of <see cref="WriteSafetensors"/> and <see cref="WriteSparse"/> (<c>surgeon import --onnx m.onnx
    /// --format safetensors|sparse --in F</c>): the file's tensors loaded onto the graph's layers by ONNX initializer name,
    /// in the file's layout, matched as a by-name import of a registry model is (<see cref="WeightMatch"/>: mis-shaped
    /// tensors are an error, missing ones too unless <paramref name="allowMissing"/>, when they keep the graph's own
    /// values; unexpected ones are reported). Nothing is loaded unless everything fits. Returns the report lines.
    /// </summary>
    /// <param name="format">"safetensors" or "sparse".</param>
    public static IReadOnlyList<string> Import(OnnxGraphModel model, string format, string path, bool allowMissing = false)
    {
        string graph = $"{model.FileName} (an ONNX graph of {string.Join('x', model.InputShape)} inputs and {model.NumClasses} classes)";
        var file = format switch
        {
            "safetensors" => SafetensorsReader.Read(path).Tensors,
            "sparse" => SparseTensors(model, path, graph),
            _ => throw new SurgeonException($"an ONNX graph's weights are read back from safetensors or sparse files, not {format}"),
        };
        var bindings = model.Layers.SelectMany(l => l.Bindings().Select(b => (Layer: l, b.Initializer, b.Local, b.Transposed)))
            .ToDictionary(b => b.Initializer, StringComparer.Ordinal);
        var state = Read(model).Select(t => (t.Name, t.DType, t.Shape)).ToList();
        var match = WeightMatch.Compute(state, file);
        if (match.Misshaped.Count > 0 || (match.Missing.Count > 0 && !allowMissing))
            throw new SurgeonException(
                $"{path} does not fit {graph}: {match.Summary()}; " +
                (match.Misshaped.Count > 0 || match.Loadable.Count == 0
                    ? "give the ONNX file the weights were exported from (after a filter prune: the smaller file prune --onnx wrote)"
                    : "give the ONNX file the weights were exported from, or --allow-missing to keep the graph's own values"));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var t in match.Loadable)
        {
            var (layer, _, local, transposed) = bindings[t.Name];
            var target = layer.Module.state_dict()[local];
            var value = empty(t.Shape, target.dtype);
            value.bytes = t.Data;
            target.copy_(transposed ? value.t() : value);
        }
        Checkpoint.EnsureFinite(model, path);
        var lines = match.ReportLines(missingKeptInitial: false).ToList();
        if (match.Missing.Count > 0)
            lines[1] = $"missing (kept at the graph's values): {string.Join(", ", match.Missing)}";
        return lines;
    }

    /// <summary>
    /// A sparse file's tensors, after checking (before any block is decoded) that it holds an ONNX graph's float weights
    /// of this graph's input shape and classes, and exactly this graph's layer tensors (the file holds every tensor of the
    /// graph it was exported from).
    /// </summary>
    private static IReadOnlyList<StateTensor> SparseTensors(OnnxGraphModel model, string path, string graph)
    {
        var state = Read(model).Select(t => (t.Name, t.DType, t.Shape)).ToList();
        var contents = SparseFile.Read(path, (info, table) =>
        {
            if (info.Architecture != model.Spec.Architecture)
                throw new SurgeonException($"{path} holds the weights of a {info.Architecture} model, not of an ONNX graph; import it without --onnx (surgeon import --format sparse --in {Path.GetFileName(path)} --out model.ckpt)");
            if (table.FirstOrDefault(t => t.DType != "F32") is { Name: not null } other)
                throw new SurgeonException($"{path}: tensor {other.Name} is {other.DType}; the sparse file export --onnx writes holds float32 (F32) tensors");
            if (!info.InputShape.AsSpan().SequenceEqual(model.InputShape) || info.NumClasses != model.NumClasses)
                throw new SurgeonException(
                    $"{path} holds the weights of a graph of {string.Join('x', info.InputShape)} inputs and {info.NumClasses} classes " +
                    $"({info.Notes.GetValueOrDefault("onnx") ?? "its ONNX file is not named"}), not of {graph}");
            var match = WeightMatch.Compute(state, table.Select(t => new StateTensor(t.Name, t.DType, t.Shape, [])).ToList());
            if (match.Misshaped.Count > 0 || match.Missing.Count > 0 || match.Unexpected.Count > 0)
                throw new SurgeonException($"{path} does not fit {graph}: {match.Summary()}; give the ONNX file the weights were exported from (after a filter prune: the smaller file prune --onnx wrote)");
        });
        if (contents.Quantizations.Count > 0)
            throw new SurgeonException($"{path} holds quantised weights; an ONNX graph's weights are read back from the float sparse file export --onnx writes");
        return contents.Tensors;
    }

    private static long GzipSize(byte[] bytes)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(bytes);
        return compressed.Length;
    }
}
