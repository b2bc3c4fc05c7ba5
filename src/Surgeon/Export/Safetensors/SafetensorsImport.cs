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
internal static class SafetensorsImport
{
    public static ImportResult Read(ImportRequest request)
    {
        string path = request.InputPath;
        var contents = SafetensorsReader.Read(path);
        var info = request.Spec ?? FromMetadata(contents, path);
        return NamedWeightsImport.Load(request, info, _ => contents.Tensors);
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
