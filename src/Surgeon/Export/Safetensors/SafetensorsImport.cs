using System.Text.Json;
using Surgeon.Models;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// <c>surgeon import --format safetensors</c>: loads a safetensors file into a registry model by parameter name. The
/// model is the one the request names, or else the one surgeon's metadata in the file describes. Mis-shaped tensors
/// are an error; so are missing ones unless <see cref="ImportRequest.AllowMissing"/>; unexpected ones are reported.
/// </summary>
public static class SafetensorsImport
{
    public static ImportResult Read(ImportRequest request)
    {
        string path = request.InputPath;
        var contents = SafetensorsReader.Read(path);
        var info = request.Spec ?? FromMetadata(contents, path);
        // Matched against the model built without storage first, so weights that do not fit allocate no model at all.
        var state = ModelRegistry.StateOf(info.Spec).Select(t => (t.Name, ElementTypes.NameOf(t.DType), t.Shape)).ToList();
        var match = WeightMatch.Compute(state, contents.Tensors);
        if (match.Misshaped.Count > 0 || (match.Missing.Count > 0 && !request.AllowMissing))
            throw new SurgeonException(
                $"{path} does not fit a {ImportFormats.Describe(info)}: {match.Summary()}; " +
                (match.Misshaped.Count > 0
                    ? "give the --model, --width, --channels and --data the weights were made for"
                    : "give the matching model, or --allow-missing to keep the missing tensors at their initial values"));
        torch.manual_seed(request.Seed); // the initial values of tensors the file may lack
        var model = ModelRegistry.Create(info.Spec);
        try
        {
            ModelState.Assign(model, match.Loadable);
            model.eval();
            Checkpoint.EnsureFinite(model, path);
            return new ImportResult(model, ImportFormats.Imported(info, request), match.ReportLines(missingKeptInitial: true));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static CheckpointInfo FromMetadata(SafetensorsContents contents, string path)
    {
        if (contents.Metadata is null || !contents.Metadata.TryGetValue(SafetensorsContents.CheckpointKey, out string? json))
            throw new SurgeonException(
                $"{path} has no surgeon model description in its metadata (it was not written by 'surgeon export'); " +
                "name the model to load it into with --model (and --width, --channels, --data)");
        CheckpointInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<CheckpointInfo>(json, InfoJson.Options);
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{path}: its {SafetensorsContents.CheckpointKey} metadata is not a valid model description ({InfoJson.Message(e)}); give --model instead", e);
        }
        if (info is null || info.InputShape is null || info.Architecture is null || info.Dataset is null)
            throw new SurgeonException($"{path}: its {SafetensorsContents.CheckpointKey} metadata lacks the architecture, input shape or dataset; give --model instead");
        if (info.Problem() is { } problem)
            throw new SurgeonException($"{path}: its {SafetensorsContents.CheckpointKey} metadata is an impossible model description: {problem}; give --model instead");
        return info;
    }
}
