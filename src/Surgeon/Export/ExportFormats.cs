using Surgeon.Export.Onnx;
using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Export;

/// <summary>What an export wrote: the file, its size on disk, and a line of format-specific details.</summary>
public sealed record ExportResult(string Path, long Bytes, string Details);

/// <param name="Write">Writes the model (of the given spec) to the path, atomically, and says what it wrote.</param>
public sealed record ExportFormat(string Name, string Description, Func<nn.Module<Tensor, Tensor>, ModelSpec, string, ExportResult> Write);

/// <summary>The file formats a model can be exported to, by name (<c>surgeon export --format NAME</c>).</summary>
public static class ExportFormats
{
    private static readonly ExportFormat[] Formats =
    [
        new("onnx", "ONNX inference graph (opset 13, BatchNorm folded where exact) for ONNX Runtime and other tools", OnnxExport.Write),
    ];

    public static IReadOnlyList<ExportFormat> Known => Formats;

    public static ExportFormat Get(string name) =>
        Formats.FirstOrDefault(f => f.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new SurgeonException($"unknown export format '{name}': known formats are {string.Join(", ", Formats.Select(f => f.Name))}");
}
