namespace Surgeon.Export.Safetensors;

/// <summary>A safetensors file read and checked: its <c>__metadata__</c> (null when absent) and tensors in header order.</summary>
internal sealed record SafetensorsContents(IReadOnlyDictionary<string, string>? Metadata, IReadOnlyList<StateTensor> Tensors)
{
    /// <summary>The metadata key under which surgeon writes the model's description (the checkpoint sidecar's JSON).</summary>
    public const string CheckpointKey = "surgeon.checkpoint";

    /// <summary>The metadata key under which surgeon writes its checksum (<see cref="SafetensorsChecksum"/>), checked on reading.</summary>
    public const string ChecksumKey = "surgeon.sha256";
}
