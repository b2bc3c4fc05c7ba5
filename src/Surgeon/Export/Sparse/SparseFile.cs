using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Training;

namespace Surgeon.Export.Sparse;

/// <summary>
/// What a sparse file holds: the checkpoint's description, every tensor of the model's state, the table, and the grid
/// of each tensor stored as quantised codes (by name; empty for a version 1 file).
/// </summary>
internal sealed record SparseContents(CheckpointInfo Info, IReadOnlyList<StateTensor> Tensors, IReadOnlyList<SparseTensorEntry> Entries,
    IReadOnlyDictionary<string, TensorQuantization>? Quantizations = null)
{
    public IReadOnlyDictionary<string, TensorQuantization> Quantizations { get; init; } = Quantizations ?? new Dictionary<string, TensorQuantization>();
}

/// <summary>
/// The Surgeon sparse weights file (docs/export.md, "Sparse"): magic "SURGSPRS", u32 version 1, u64 header length H,
/// H bytes of UTF-8 JSON (<see cref="SparseHeader"/>), the tensor blocks back to back in table order, and the SHA-256
/// of everything before it. All integers little-endian. The checksum comes first when reading, so a truncated or
/// bit-flipped file is refused as such before any of it is interpreted. Version 2 adds tensors stored as b-bit codes
/// (<see cref="QuantizedBlocks"/>) and 2:4 blocks (<see cref="SparseEncoding.TwoOfFour"/>); a file without either is
/// written as version 1, byte for byte as before.
/// </summary>
internal static class SparseFile
{
    public static ReadOnlySpan<byte> Magic => "SURGSPRS"u8;
    /// <summary>The newest version written and read; <see cref="PlainVersion"/> files (no quantised tensors) are read too.</summary>
    public const uint Version = 2;

    public const uint PlainVersion = 1;

    /// <summary>Magic, version and header length.</summary>
    public const int PreambleBytes = 8 + 4 + 8;
    public const int ChecksumBytes = 32;

    /// <summary>Headers larger than this are refused before parsing (a real one is a few kilobytes).</summary>
    public const long MaxHeaderBytes = 64L << 20;

    private const string Advice = "re-export it with 'surgeon export --format sparse'";

    /// <summary>
    /// The file's bytes for a model's state and the checkpoint description that rebuilds it. Tensors named in
    /// <paramref name="quantizations"/> (float32, their values on that grid) are stored as b-bit codes.
    /// </summary>
    public static (byte[] Bytes, IReadOnlyList<SparseTensorEntry> Entries) Build(CheckpointInfo info, IReadOnlyList<StateTensor> tensors,
        IReadOnlyDictionary<string, TensorQuantization>? quantizations = null)
    {
        if (info.Problem() is { } problem)
            throw new SurgeonException($"cannot write a sparse file: the model description is impossible: {problem}");
        quantizations ??= new Dictionary<string, TensorQuantization>();
        if (quantizations.Keys.FirstOrDefault(name => tensors.All(t => t.Name != name)) is { } unknown)
            throw new SurgeonException($"the model's state has no tensor {unknown} to store quantised");
        var blocks = new List<byte[]>();
        var entries = new List<SparseTensorEntry>();
        long offset = 0;
        foreach (var t in tensors)
        {
            SparseEncoding encoding;
            long stored;
            byte[] block;
            SparseQuantization? grid = null;
            if (quantizations.TryGetValue(t.Name, out var q))
            {
                if (t.DType != "F32")
                    throw new SurgeonException($"tensor {t.Name} is {t.DType}; only float32 tensors are stored quantised");
                (encoding, stored, block) = QuantizedBlocks.Encode(t.Name, t.Shape, t.Data, q);
                grid = new SparseQuantization(q.Bits, q.Symmetric, q.Axis);
            }
            else
            {
                (encoding, stored, block) = SparseBlocks.Encode(t.Data, t.ElementSize, ElementTypes.IsFloat(t.DType));
            }
            entries.Add(new SparseTensorEntry(t.Name, t.DType, t.Shape, SparseBlocks.Name(encoding), stored, offset, block.Length, grid));
            blocks.Add(block);
            offset += block.Length;
        }
        // The hash of the source checkpoint's weights would describe another file; import writes its own.
        var header = new SparseHeader(info with { WeightsSha256 = "" }, entries);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(header, InfoJson.Options);

        var bytes = new byte[checked(PreambleBytes + json.Length + offset + ChecksumBytes)];
        Magic.CopyTo(bytes);
        bool plain = quantizations.Count == 0 && entries.All(e => e.Encoding != SparseBlocks.Name(SparseEncoding.TwoOfFour));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), plain ? PlainVersion : Version);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(12), (ulong)json.Length);
        json.CopyTo(bytes, PreambleBytes);
        long at = PreambleBytes + json.Length;
        foreach (var block in blocks)
        {
            block.CopyTo(bytes, at);
            at += block.Length;
        }
        SHA256.HashData(bytes.AsSpan(0, (int)at), bytes.AsSpan((int)at));
        return (bytes, entries);
    }

    public static SparseContents Read(string path) =>
        Parse(ReadBytes(path), path, info => ModelRegistry.StateOf(info.Spec));

    /// <summary>
    /// A sparse file of a model that is not the registry's (an imported ONNX graph's): <paramref name="checkTable"/> sees
    /// the header's model description and tensor table before any block is decoded and throws unless the table is exactly
    /// the state of the model it reads into (which bounds what decoding allocates, as the registry state does in <see cref="Read(string)"/>).
    /// </summary>
    public static SparseContents Read(string path, Action<CheckpointInfo, IReadOnlyList<(string Name, string DType, long[] Shape)>> checkTable) =>
        Parse(ReadBytes(path), path, modelState: null, checkTable);

    private static byte[] ReadBytes(string path)
    {
        IO.InputFiles.Check(path, "sparse");
        if (Directory.Exists(path))
            throw new SurgeonException($"{path} is a folder; give a sparse file written by 'surgeon export --format sparse'");
        if (!File.Exists(path))
            throw new SurgeonException($"sparse file not found: {path}");
        if (new FileInfo(path).Length > Array.MaxLength)
            throw new SurgeonException($"{path} is too large to be a sparse file surgeon wrote ({new FileInfo(path).Length} bytes)");
        return File.ReadAllBytes(path);
    }

    /// <summary>
    /// Checks and decodes a sparse file's <paramref name="bytes"/>; <paramref name="path"/> names it in messages. With
    /// <paramref name="modelState"/> (the state of the model a header describes, e.g. <see cref="ModelRegistry.StateOf"/>,
    /// as <see cref="Read(string)"/> passes) the tensor table must be exactly that state before any block is decoded: a block can
    /// decode to far more than its bytes (an indices block of no values is a tensor of zeros of any size), so the model
    /// bounds what decoding allocates. Without it (the format on its own) each tensor is bounded by the largest array.
    /// </summary>
    /// <param name="checkTable">Sees the header's model and tensor table (name, dtype, shape) before any block is decoded.</param>
    public static SparseContents Parse(byte[] bytes, string path,
        Func<CheckpointInfo, IReadOnlyList<(string Name, TorchSharp.torch.ScalarType DType, long[] Shape)>>? modelState = null,
        Action<CheckpointInfo, IReadOnlyList<(string Name, string DType, long[] Shape)>>? checkTable = null)
    {
        if (bytes.Length == 0)
            throw new SurgeonException($"{path} is empty (truncated to nothing, or not a sparse file); {Advice}");
        int magicSeen = Math.Min(bytes.Length, Magic.Length);
        if (!bytes.AsSpan(0, magicSeen).SequenceEqual(Magic[..magicSeen]))
            throw new SurgeonException($"{path} is not a Surgeon sparse file (it does not start with \"SURGSPRS\"); give a file written by 'surgeon export --format sparse'");
        if (bytes.Length < PreambleBytes + ChecksumBytes)
            throw new SurgeonException($"{path} is truncated: {bytes.Length} bytes, less than the {PreambleBytes + ChecksumBytes} of an empty sparse file; {Advice}");
        int body = bytes.Length - ChecksumBytes;
        if (!SHA256.HashData(bytes.AsSpan(0, body)).AsSpan().SequenceEqual(bytes.AsSpan(body)))
            throw new SurgeonException($"{path} is corrupt or truncated: its SHA-256 checksum does not match its contents; {Advice}");

        // From here on the bytes are the ones the writer wrote; the checks below catch a writer of another version or a
        // hand-made file, and keep every offset inside the file whatever it says.
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (version is not (PlainVersion or Version))
            throw new SurgeonException($"{path} is a version {version} sparse file; this surgeon reads versions {PlainVersion} and {Version}");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        if (headerLength > (ulong)(body - PreambleBytes) || headerLength > MaxHeaderBytes)
            throw Bad(path, $"its header length {headerLength} runs past the end of the file ({bytes.Length} bytes)");
        int dataStart = PreambleBytes + (int)headerLength;
        var header = ParseHeader(bytes.AsSpan(PreambleBytes, (int)headerLength), path);
        if (header.Tensors.Any(e => e is null || e.Name is null || e.DType is null || e.Shape is null || e.Encoding is null))
            throw Bad(path, "its tensor table has an entry without name, dtype, shape or encoding");
        checkTable?.Invoke(header.Model, header.Tensors.Select(e => (e.Name, e.DType, e.Shape)).ToList());
        if (modelState is not null)
            ModelState.RequireExactMatch(modelState(header.Model), header.Tensors.Select(e => (e.Name, e.DType, e.Shape)).ToList(),
                path, ImportFormats.Describe(header.Model));

        var tensors = new List<StateTensor>();
        var grids = new Dictionary<string, TensorQuantization>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        long next = 0, dataLength = body - dataStart;
        foreach (var e in header.Tensors)
        {
            string where = $"tensor {e.Name}";
            if (string.IsNullOrEmpty(e.Name) || !names.Add(e.Name))
                throw Bad(path, string.IsNullOrEmpty(e.Name) ? "a tensor has no name" : $"{where} is listed twice");
            if (!ElementTypes.TryGet(e.DType, out _, out int size))
                throw Bad(path, $"{where} has unknown dtype '{e.DType}' (known: {string.Join(", ", ElementTypes.Names)})");
            if (e.Shape.Length > 8 || e.Shape.Any(d => d < 0))
                throw Bad(path, $"{where} has shape [{string.Join(", ", e.Shape)}]");
            if (!SparseBlocks.TryParse(e.Encoding, out var encoding))
                throw Bad(path, $"{where} has unknown encoding '{e.Encoding}' (known: dense, bitmask, indices, 2:4)");
            if (encoding == SparseEncoding.TwoOfFour && (version == PlainVersion || e.Quantization is not null))
                throw Bad(path, version == PlainVersion ? $"{where} is a 2:4 block, which a version {PlainVersion} file cannot hold" : $"{where} is quantised in a 2:4 block, which holds float values only");
            long elements;
            try
            {
                elements = e.Shape.Aggregate(1L, (a, b) => checked(a * b));
                _ = checked(elements * size);
            }
            catch (OverflowException)
            {
                throw Bad(path, $"{where} has an impossibly large shape [{string.Join(", ", e.Shape)}]");
            }
            if (e.Offset != next)
                throw Bad(path, $"{where} starts at data offset {e.Offset}, not right after the tensor before it ({next})");
            if (e.Length < 0 || e.Length > dataLength - next)
                throw Bad(path, $"{where} has a block of {e.Length} bytes at offset {e.Offset}, past the end of the data ({dataLength} bytes)");
            if (elements * size > Array.MaxLength)
                throw Bad(path, $"{where} is too large ({elements} elements)");
            if (e.Quantization is not null && (version == PlainVersion || e.DType != "F32"))
                throw Bad(path, version == PlainVersion ? $"{where} is quantised, which a version {PlainVersion} file cannot be" : $"{where} is quantised but {e.DType}, not F32");
            byte[] data;
            try
            {
                var block = bytes.AsSpan(dataStart + (int)e.Offset, (int)e.Length);
                if (e.Quantization is { } grid)
                    (data, grids[e.Name]) = QuantizedBlocks.Decode(block, encoding, e.Shape, e.Stored, grid);
                else
                    data = SparseBlocks.Decode(block, encoding, elements, e.Stored, size);
            }
            catch (Exception ex) when (ex is InvalidDataException or OverflowException)
            {
                throw Bad(path, $"{where}: {ex.Message}");
            }
            tensors.Add(new StateTensor(e.Name, e.DType, e.Shape, data));
            next += e.Length;
        }
        if (next != dataLength)
            throw Bad(path, $"{dataLength - next} bytes of data follow the last tensor's block");
        return new SparseContents(header.Model, tensors, header.Tensors, grids);
    }

    private static SparseHeader ParseHeader(ReadOnlySpan<byte> json, string path)
    {
        SparseHeader? header;
        try
        {
            header = JsonSerializer.Deserialize<SparseHeader>(json, InfoJson.Options);
        }
        catch (JsonException e)
        {
            throw Bad(path, $"its header is not the expected JSON ({InfoJson.Message(e)})");
        }
        catch (DecoderFallbackException)
        {
            throw Bad(path, "its header is not valid UTF-8");
        }
        if (header?.Model is null || header.Tensors is null)
            throw Bad(path, "its header lacks the model or the tensor table");
        var m = header.Model;
        if (m.Architecture is null || m.InputShape is null || m.Dataset is null)
            throw Bad(path, "its header's model lacks architecture, inputShape or dataset");
        if (m.Problem() is { } problem)
            throw Bad(path, $"its header's model is impossible: {problem}");
        return header;
    }

    private static SurgeonException Bad(string path, string why) => new($"{path} is not a valid Surgeon sparse file: {why}; {Advice}");
}
