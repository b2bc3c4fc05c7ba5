using System.Buffers.Binary;
using System.Text.Json;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// Writes a safetensors file: 8-byte little-endian header length, the JSON header ("__metadata__" first, then the
/// tensors in the given order with contiguous data_offsets), padded with spaces to a multiple of 8 bytes as the
/// reference implementation does (so the data starts 8-byte aligned), then the raw little-endian data. The metadata gets
/// <see cref="SafetensorsContents.ChecksumKey"/> (<see cref="SafetensorsChecksum"/>), which the reader checks.
/// </summary>
internal static class SafetensorsWriter
{
    public static byte[] Build(IReadOnlyList<StateTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        if (tensors.Select(t => t.Name).Distinct(StringComparer.Ordinal).Count() != tensors.Count)
            throw new ArgumentException("two tensors have the same name", nameof(tensors));
        var entries = new List<SafetensorsChecksum.Entry>();
        long end = 0;
        foreach (var t in tensors)
        {
            entries.Add(new SafetensorsChecksum.Entry(t.Name, t.DType, t.Shape, end, end + t.Data.LongLength));
            end += t.Data.LongLength;
        }
        var data = new byte[end];
        foreach (var (t, e) in tensors.Zip(entries))
            t.Data.CopyTo(data, e.Begin);
        var withChecksum = new Dictionary<string, string>(metadata) { [SafetensorsContents.ChecksumKey] = SafetensorsChecksum.Compute(metadata, entries, data) };

        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Encoder = InfoJson.Encoder }))
        {
            w.WriteStartObject();
            w.WriteStartObject(SafetensorsReader.MetadataKey);
            foreach (var (key, value) in withChecksum.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                w.WriteString(key, value);
            w.WriteEndObject();
            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DType);
                w.WriteStartArray("shape");
                foreach (long d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(e.Begin);
                w.WriteNumberValue(e.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int headerLength = (int)((json.Length + 7) / 8 * 8);
        var bytes = new byte[checked(8 + headerLength + data.LongLength)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)headerLength);
        json.ToArray().CopyTo(bytes, 8);
        bytes.AsSpan(8 + (int)json.Length, headerLength - (int)json.Length).Fill((byte)' ');
        data.CopyTo(bytes, 8 + headerLength);
        return bytes;
    }
}
