using System.Buffers.Binary;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// Converts a file tensor to the element type of the model tensor it loads into: F16, BF16 and F64 to F32 (F16 and
/// BF16 exactly; F64 rounded to nearest), I32, I16, I8 and U8 to I64 (exactly). The same type is copied as is.
/// </summary>
internal static class SafetensorsValues
{
    public static bool CanConvert(string from, string to) =>
        from == to
        || (to == "F32" && SafetensorsDTypes.Floats.Contains(from))
        || (to == "I64" && SafetensorsDTypes.Integers.Contains(from));

    public static StateTensor Convert(StateTensor t, string to)
    {
        if (t.DType == to) return t;
        if (!CanConvert(t.DType, to))
            throw new ArgumentException($"{t.DType} does not convert to {to}", nameof(to));
        long n = t.Elements;
        int size = ElementTypes.SizeOf(to);
        var output = new byte[checked(n * size)];
        var input = t.Data.AsSpan();
        for (int i = 0; i < n; i++)
        {
            var dst = output.AsSpan(i * size);
            if (to == "F32")
                BinaryPrimitives.WriteSingleLittleEndian(dst, t.DType switch
                {
                    "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(input[(i * 2)..]),
                    // bfloat16 is the top half of a float32: shifting its bits up is exact.
                    "BF16" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(input[(i * 2)..]) << 16),
                    "F64" => (float)BinaryPrimitives.ReadDoubleLittleEndian(input[(i * 8)..]),
                    _ => throw new InvalidOperationException(t.DType),
                });
            else
                BinaryPrimitives.WriteInt64LittleEndian(dst, t.DType switch
                {
                    "I32" => BinaryPrimitives.ReadInt32LittleEndian(input[(i * 4)..]),
                    "I16" => BinaryPrimitives.ReadInt16LittleEndian(input[(i * 2)..]),
                    "I8" => (sbyte)input[i],
                    "U8" => input[i],
                    _ => throw new InvalidOperationException(t.DType),
                });
        }
        return t with { DType = to, Data = output };
    }
}
