using System.Buffers.Binary;
using System.Text.Json;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// Reads a safetensors file strictly: 8-byte little-endian header length N, N bytes of JSON (an object of tensor
/// entries {"dtype", "shape", "data_offsets": [begin, end]} and an optional "__metadata__" of string values), then the
/// data buffer, which the tensors' byte ranges must tile exactly (no gaps, no overlaps, nothing left over). Every
/// violation is a <see cref="SurgeonException"/> naming the problem; nothing is read outside the file whatever the header
/// says. When the metadata holds surgeon's checksum (<see cref="SafetensorsChecksum"/>), a bit flip anywhere is caught too.
/// </summary>
internal static class SafetensorsReader
{
    /// <summary>The reference implementation's limit; real headers are a few megabytes at most.</summary>
    public const long MaxHeaderBytes = 100L << 20;

    public const string MetadataKey = "__metadata__";

    public static SafetensorsContents Read(string path)
    {
        IO.InputFiles.Check(path, "safetensors");
        if (Directory.Exists(path))
            throw new SurgeonException($"{path} is a folder; give a .safetensors file");
        if (!File.Exists(path))
            throw new SurgeonException($"safetensors file not found: {path}");
        if (new FileInfo(path).Length > Array.MaxLength)
            throw new SurgeonException($"{path} is larger than surgeon reads in one piece ({new FileInfo(path).Length} bytes)");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Checks and splits a safetensors file's <paramref name="bytes"/>; <paramref name="path"/> names it in messages.</summary>
    public static SafetensorsContents Parse(byte[] bytes, string path)
    {
        if (bytes.Length < 8)
            throw Bad(path, $"it is {bytes.Length} bytes long, too short for the 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > (ulong)(bytes.Length - 8))
            throw Bad(path, $"its header length {n} is larger than the rest of the file ({bytes.Length - 8} bytes): the file is truncated or of another format");
        if (n > MaxHeaderBytes)
            throw Bad(path, $"its header is {n} bytes, more than the {MaxHeaderBytes} the format allows");
        if (n < 2 || bytes[8] != (byte)'{')
            throw Bad(path, "its header does not start with '{' (a JSON object)");
        var header = bytes.AsSpan(8, (int)n);
        long bufferLength = bytes.Length - 8 - (long)n;
        // JsonDocument checks UTF-8 only when a string is read; checking it all first keeps the error a clear one.
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw Bad(path, "its header is not valid UTF-8");

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"its header is not valid JSON ({InfoJson.Message(e)})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw Bad(path, "its header is not a JSON object");
            Dictionary<string, string>? metadata = null;
            var entries = new List<(string Name, string DType, long[] Shape, long Begin, long End)>();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!keys.Add(property.Name))
                    throw Bad(path, $"its header lists '{property.Name}' twice");
                if (property.Name == MetadataKey)
                    metadata = ReadMetadata(property.Value, path);
                else
                    entries.Add(ReadEntry(property.Name, property.Value, path));
            }
            CheckTiling(entries, bufferLength, path);

            int start = 8 + (int)n;
            CheckChecksum(metadata, entries, bytes.AsSpan(start), path);
            var tensors = entries.Select(e => new StateTensor(e.Name, e.DType, e.Shape, bytes.AsSpan(start + (int)e.Begin, (int)(e.End - e.Begin)).ToArray())).ToList();
            return new SafetensorsContents(metadata, tensors);
        }
    }

    /// <summary>
    /// Files surgeon wrote carry <see cref="SafetensorsChecksum"/>; with it a bit flip anywhere that the structural checks
    /// let through (a value in the metadata, a tensor's data) is caught. A file with surgeon's model description must
    /// have it (so a flip in the checksum's own key is caught too); other files are checked structurally only.
    /// </summary>
    private static void CheckChecksum(Dictionary<string, string>? metadata, List<(string Name, string DType, long[] Shape, long Begin, long End)> entries,
        ReadOnlySpan<byte> data, string path)
    {
        if (metadata is null) return;
        if (!metadata.TryGetValue(SafetensorsContents.ChecksumKey, out string? expected))
        {
            if (metadata.ContainsKey(SafetensorsContents.CheckpointKey))
                throw new SurgeonException($"{path} is corrupt: it holds surgeon's model description but not the checksum ({SafetensorsContents.ChecksumKey}) written with it; re-export it");
            return;
        }
        string actual = SafetensorsChecksum.Compute(metadata, entries.Select(e => new SafetensorsChecksum.Entry(e.Name, e.DType, e.Shape, e.Begin, e.End)), data);
        if (!string.Equals(actual, expected, StringComparison.Ordinal)) // lowercase hex, as written: a flipped case bit is a flip too
            throw new SurgeonException($"{path} is corrupt: its contents do not match the checksum in its metadata ({SafetensorsContents.ChecksumKey}); re-export it");
    }

    private static Dictionary<string, string> ReadMetadata(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"its {MetadataKey} is not an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in value.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw Bad(path, $"its {MetadataKey} entry '{p.Name}' is not a string");
            if (!metadata.TryAdd(p.Name, p.Value.GetString()!))
                throw Bad(path, $"its {MetadataKey} lists '{p.Name}' twice");
        }
        return metadata;
    }

    private static (string Name, string DType, long[] Shape, long Begin, long End) ReadEntry(string name, JsonElement value, string path)
    {
        string where = $"tensor '{name}'";
        if (name.Length == 0)
            throw Bad(path, "a tensor has an empty name");
        if (value.ValueKind != JsonValueKind.Object)
            throw Bad(path, $"{where} is not an object with dtype, shape and data_offsets");
        JsonElement? dtype = null, shape = null, offsets = null;
        foreach (var p in value.EnumerateObject())
        {
            ref JsonElement? slot = ref dtype;
            if (p.Name == "dtype") slot = ref dtype;
            else if (p.Name == "shape") slot = ref shape;
            else if (p.Name == "data_offsets") slot = ref offsets;
            else throw Bad(path, $"{where} has an unknown field '{p.Name}' (expected dtype, shape and data_offsets)");
            if (slot is not null)
                throw Bad(path, $"{where} lists '{p.Name}' twice");
            slot = p.Value;
        }
        if (dtype is null || shape is null || offsets is null)
            throw Bad(path, $"{where} lacks '{(dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets")}'");

        if (dtype.Value.ValueKind != JsonValueKind.String)
            throw Bad(path, $"{where} has a dtype that is not a string");
        string type = dtype.Value.GetString()!;
        int size = SafetensorsDTypes.SizeOf(type, out string? problem);
        if (problem is not null)
            throw Bad(path, $"{where} has {problem}");

        var dims = Integers(shape.Value, path, where, "shape");
        if (dims.Length > 8)
            throw Bad(path, $"{where} has {dims.Length} dimensions");
        var range = Integers(offsets.Value, path, where, "data_offsets");
        if (range.Length != 2)
            throw Bad(path, $"{where} has data_offsets of {range.Length} numbers, not [begin, end]");
        if (range[0] > range[1])
            throw Bad(path, $"{where} has data_offsets [{range[0]}, {range[1]}] that end before they begin");
        long bytes;
        try
        {
            bytes = checked(dims.Aggregate(1L, (a, b) => checked(a * b)) * size);
        }
        catch (OverflowException)
        {
            throw Bad(path, $"{where} has an impossibly large shape [{string.Join(", ", dims)}]");
        }
        if (range[1] - range[0] != bytes)
            throw Bad(path, $"{where} is {type} {StateTensor.ShapeTextOf(dims)} = {bytes} bytes but its data_offsets [{range[0]}, {range[1]}] span {range[1] - range[0]}");
        return (name, type, dims, range[0], range[1]);
    }

    private static long[] Integers(JsonElement value, string path, string where, string field)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw Bad(path, $"{where} has a {field} that is not an array of whole numbers");
        var result = new long[value.GetArrayLength()];
        int i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long v) || v < 0)
                throw Bad(path, $"{where} has a {field} entry that is not a whole number ≥ 0 ({item.GetRawText()})");
            result[i++] = v;
        }
        return result;
    }

    /// <summary>The tensors' byte ranges, in order, must cover the data buffer exactly once.</summary>
    private static void CheckTiling(List<(string Name, string DType, long[] Shape, long Begin, long End)> entries, long bufferLength, string path)
    {
        long covered = 0;
        string? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.End > bufferLength)
                throw Bad(path, $"tensor '{e.Name}' has data_offsets [{e.Begin}, {e.End}] past the end of the data ({bufferLength} bytes): the file is truncated");
            if (e.Begin < covered)
                throw Bad(path, $"tensors '{previous}' and '{e.Name}' overlap (data_offsets up to {covered} and from {e.Begin})");
            if (e.Begin > covered)
                throw Bad(path, $"{e.Begin - covered} bytes of data before tensor '{e.Name}' belong to no tensor (data_offsets must be contiguous)");
            covered = e.End;
            previous = e.Name;
        }
        if (covered != bufferLength)
            throw Bad(path, $"{bufferLength - covered} bytes at the end of the data belong to no tensor");
    }

    private static SurgeonException Bad(string path, string why) => new($"{path} is not a valid safetensors file: {why}");
}
