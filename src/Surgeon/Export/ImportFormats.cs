using System.Globalization;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Export;

/// <summary>What to import: the file, and for formats that take them the model to load it into and how strictly.</summary>
/// <param name="Format">The format's name, recorded in the new checkpoint's notes.</param>
/// <param name="Spec">The model to build (architecture, input shape, classes, width, channels, dataset); null = the
/// one the file's own metadata describes.</param>
/// <param name="AllowMissing">Tensors the model has but the file lacks keep their initial values (seeded by
/// <paramref name="Seed"/>) instead of being an error.</param>
internal sealed record ImportRequest(string Format, string InputPath, CheckpointInfo? Spec = null, bool AllowMissing = false, int Seed = 0);

/// <summary>The imported model, the sidecar to save it with, and report lines (what was loaded, missing, unexpected).</summary>
internal sealed record ImportResult(nn.Module<Tensor, Tensor> Model, CheckpointInfo Info, IReadOnlyList<string> Report);

/// <param name="TakesModelOptions">The format can be loaded into a model named on the command line (--model, --width,
/// --channels, --data, --allow-missing); formats that carry their model refuse those options.</param>
internal sealed record ImportFormat(string Name, string Description, bool TakesModelOptions, Func<ImportRequest, ImportResult> Read);

/// <summary>The file formats a model can be imported from into a checkpoint (<c>surgeon import --format NAME</c>).</summary>
internal static class ImportFormats
{
    private static readonly ImportFormat[] Formats =
    [
        new("sparse", "Surgeon sparse weights file (written by export --format sparse), which carries its model", false, SparseImport.Read),
        new("safetensors", "safetensors weights, loaded by parameter name into a registry model", true, SafetensorsImport.Read),
        new("pytorch", "PyTorch state dict (.pt, .pth or .bin written by torch.save(model.state_dict(), path), PyTorch 1.6 or later), loaded by parameter name into a registry model",
            true, Pytorch.PytorchImport.Read),
    ];

    public static IReadOnlyList<ImportFormat> Known => Formats;

    public static ImportFormat Get(string name) =>
        Formats.FirstOrDefault(f => f.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new SurgeonException($"unknown import format '{name}': known formats are {string.Join(", ", Formats.Select(f => f.Name))}");

    /// <summary>The sidecar of an imported model: the description it came with, noting where it came from.</summary>
    internal static CheckpointInfo Imported(CheckpointInfo info, ImportRequest request) => info with
    {
        Notes = new Dictionary<string, string>(info.Notes ?? [])
        {
            ["importedFrom"] = Path.GetFileName(request.InputPath),
            ["importFormat"] = request.Format,
        },
    };

    /// <summary>A model's description in messages, e.g. "mlpnet (width 1, 1x28x28 inputs, 10 classes)".</summary>
    internal static string Describe(CheckpointInfo info) =>
        $"{info.Architecture} (width {info.Width.ToString("G4", CultureInfo.InvariantCulture)}" +
        $"{(info.Channels is null ? "" : $", channels {string.Join(',', info.Channels)}")}, {info.Spec.InputShapeText} inputs, {info.NumClasses} classes)";
}
