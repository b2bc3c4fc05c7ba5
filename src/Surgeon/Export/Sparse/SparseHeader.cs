using System.Text.Json.Serialization;
using Surgeon.Training;

namespace Surgeon.Export.Sparse;

/// <summary>The JSON header of a sparse file: the checkpoint's description (to rebuild the model) and the tensor table.</summary>
internal sealed record SparseHeader(CheckpointInfo Model, IReadOnlyList<SparseTensorEntry> Tensors);

/// <summary>
/// One tensor of the table: its name, element type (safetensors name, e.g. F32), shape, encoding ("dense",
/// "bitmask" or "indices"), the number of values its block stores, where the block is (offset from the start of
/// the data section, length in bytes), and for a tensor stored as b-bit codes (version 2) its grid's description.
/// </summary>
internal sealed record SparseTensorEntry(string Name, [property: JsonPropertyName("dtype")] string DType, long[] Shape, string Encoding, long Stored, long Offset, long Length,
    SparseQuantization? Quantization = null);
