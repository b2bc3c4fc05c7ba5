using System.Globalization;
using Surgeon.IO;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// <c>surgeon export --format safetensors</c>: the model's state dict (parameters and buffers, by their TorchSharp
/// names, which follow PyTorch's module.attribute scheme) as F32 / I64 tensors, with "format": "pt", the checkpoint's
/// description under <see cref="SafetensorsContents.CheckpointKey"/> and surgeon's checksum (<see cref="SafetensorsChecksum"/>) in the metadata.
/// </summary>
internal static class SafetensorsExport
{
    public static byte[] Build(nn.Module model, CheckpointInfo info) => Build(ModelState.Read(model), info);

    public static byte[] Build(IReadOnlyList<StateTensor> tensors, CheckpointInfo info)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt", // what Hugging Face's loaders expect of PyTorch weights
            [SafetensorsContents.CheckpointKey] = InfoJson.Serialize(info with { WeightsSha256 = "" }, "the safetensors metadata"),
        };
        return SafetensorsWriter.Build(tensors, metadata);
    }

    public static ExportResult Write(nn.Module<Tensor, Tensor> model, CheckpointInfo info, string path)
    {
        var tensors = ModelState.Read(model);
        var bytes = Build(tensors, info);
        AtomicFile.WriteAllBytes(path, bytes);
        var c = CultureInfo.InvariantCulture;
        string types = string.Join(", ", tensors.GroupBy(t => t.DType).Select(g => $"{g.Count()} {g.Key}"));
        return new ExportResult(path, bytes.LongLength,
            $"safetensors, {tensors.Count} tensors ({types}), {tensors.Sum(t => t.Elements).ToString("N0", c)} values; model description and checksum in __metadata__");
    }
}
