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
/// so that a PyTorch export's "layer1.0.conv1.weight" stays that name.
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

    private static long GzipSize(byte[] bytes)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(bytes);
        return compressed.Length;
    }
}
