using System.Text;
using System.Text.RegularExpressions;

namespace Surgeon.Tests.Models.Onnx;

/// <summary>
/// Reads the float32 .npy files that scripts/make-import-fixtures.py writes with numpy.save (format 1.0 or 2.0,
/// little-endian '&lt;f4', C order): the fixtures' inputs and the logits PyTorch computed.
/// </summary>
internal static partial class NpyFile
{
    public static (float[] Data, long[] Shape) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path} is not a .npy file");
        int major = bytes[6];
        int headerLength = major == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToInt32(bytes, 8);
        int start = major == 1 ? 10 : 12;
        string header = Encoding.ASCII.GetString(bytes, start, headerLength);
        if (!header.Contains("'descr': '<f4'") || header.Contains("'fortran_order': True"))
            throw new InvalidDataException($"{path}: only C-order little-endian float32 is read here ({header.Trim()})");
        var shape = ShapePattern().Match(header).Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        int offset = start + headerLength;
        if (bytes.Length - offset != count * sizeof(float))
            throw new InvalidDataException($"{path}: {bytes.Length - offset} data bytes for shape ({string.Join(',', shape)})");
        var data = new float[count];
        Buffer.BlockCopy(bytes, offset, data, 0, (int)(count * sizeof(float)));
        return (data, shape);
    }

    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
