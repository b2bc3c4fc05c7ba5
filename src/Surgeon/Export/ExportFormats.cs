using Surgeon.Export.Onnx;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Quantization;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Export;

/// <summary>What an export wrote: the file, its size on disk, and a line of format-specific details.</summary>
internal sealed record ExportResult(string Path, long Bytes, string Details);

/// <param name="Write">Writes the model (described by its checkpoint's sidecar) to the path, atomically, and says what
/// it wrote.</param>
internal sealed record ExportFormat(string Name, string Description, Func<nn.Module<Tensor, Tensor>, CheckpointInfo, string, ExportResult> Write);

/// <summary>The file formats a model can be exported to, by name (<c>surgeon export --format NAME</c>).</summary>
internal static class ExportFormats
{
    private static readonly ExportFormat[] Formats =
    [
        new("onnx", "ONNX inference graph (opset 13, BatchNorm folded where exact; a quantised checkpoint as QuantizeLinear/DequantizeLinear pairs) for ONNX Runtime and other tools",
            (model, info, path) => OnnxExport.Write(model, info.Spec, path, QuantizedCheckpoint.Plan(model, info.Compression, "the checkpoint"))),
        new("sparse", "Surgeon sparse weights file: per tensor a bitmask or index list and the nonzero values (b-bit codes and scales for a quantised checkpoint), SHA-256 checked; " +
            "prints its size against the dense weights file and that file's gzip", SparseExport.Write),
        new("safetensors", "safetensors weights (the state dict by parameter name, as PyTorch and Hugging Face share them), " +
            "the model's description in the metadata", SafetensorsExport.Write),
    ];

    public static IReadOnlyList<ExportFormat> Known => Formats;

    public static ExportFormat Get(string name) =>
        Formats.FirstOrDefault(f => f.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new SurgeonException($"unknown export format '{name}': known formats are {string.Join(", ", Formats.Select(f => f.Name))}");
}
