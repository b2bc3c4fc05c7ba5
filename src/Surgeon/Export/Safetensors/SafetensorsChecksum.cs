using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// surgeon's checksum of a safetensors file, kept in its metadata under <see cref="SafetensorsContents.ChecksumKey"/>
/// (the format itself has none). It covers what the header means, not how it is spelt, so whitespace and key order do
/// not matter but every value does: SHA-256 over (1) each metadata entry but the checksum, in ordinal key order, as
/// u32 length + UTF-8 key, u32 length + UTF-8 value; (2) each tensor, in ordinal name order, as u32 length + UTF-8
/// name, u32 length + UTF-8 dtype, u32 rank, rank × u64 dimensions, u64 begin, u64 end; (3) the data buffer. All
/// integers little-endian; the result is written as 64 lowercase hex digits.
/// </summary>
internal static class SafetensorsChecksum
{
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public static string Compute(IReadOnlyDictionary<string, string> metadata, IEnumerable<Entry> tensors, ReadOnlySpan<byte> data)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (key, value) in metadata.Where(kv => kv.Key != SafetensorsContents.ChecksumKey).OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            AppendString(hash, key);
            AppendString(hash, value);
        }
        Span<byte> number = stackalloc byte[8];
        foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            AppendString(hash, t.Name);
            AppendString(hash, t.DType);
            BinaryPrimitives.WriteUInt32LittleEndian(number, (uint)t.Shape.Length);
            hash.AppendData(number[..4]);
            foreach (long value in t.Shape.Append(t.Begin).Append(t.End))
            {
                BinaryPrimitives.WriteUInt64LittleEndian(number, (ulong)value);
                hash.AppendData(number);
            }
        }
        hash.AppendData(data);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void AppendString(IncrementalHash hash, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
