using System.Buffers.Binary;
using System.Text;

namespace Surgeon.Tests.Export;

/// <summary>Safetensors files written by hand in tests: the 8-byte little-endian header length, the header JSON as
/// given, then the data bytes as given. No surgeon code is involved, so the reader is checked against the spec.</summary>
internal static class SafetensorsFiles
{
    public static byte[] Make(string headerJson, params byte[] data) => Make(Encoding.UTF8.GetBytes(headerJson), data);

    public static byte[] Make(byte[] header, byte[] data)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>The header JSON of one tensor at offset 0, e.g. One("w", "F32", "2", 8).</summary>
    public static string One(string name, string dtype, string shape, int bytes) =>
        $$$"""{"{{{name}}}":{"dtype":"{{{dtype}}}","shape":[{{{shape}}}],"data_offsets":[0,{{{bytes}}}]}}""";
}
