namespace Surgeon.Export.Safetensors;

/// <summary>
/// The dtypes of the safetensors specification, and the ones surgeon loads: floats (F32, F16, BF16, F64; converted to
/// a float32 parameter) and integers (I64, I32, I16, I8, U8; converted to an int64 buffer such as BatchNorm's
/// num_batches_tracked). The rest (BOOL, unsigned 16–64-bit, 8-bit and smaller floats) are known but refused by name.
/// </summary>
internal static class SafetensorsDTypes
{
    public static readonly string[] Floats = ["F32", "F16", "BF16", "F64"];
    public static readonly string[] Integers = ["I64", "I32", "I16", "I8", "U8"];

    private static readonly string[] Refused =
        ["BOOL", "U16", "U32", "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"];

    public static IEnumerable<string> Accepted => Floats.Concat(Integers);

    /// <summary>The element size of an accepted dtype, or an error naming a refused or unknown one.</summary>
    public static int SizeOf(string dtype, out string? problem)
    {
        problem = null;
        if (Accepted.Contains(dtype))
            return ElementTypes.SizeOf(dtype);
        problem = Refused.Contains(dtype)
            ? $"dtype {dtype}, which surgeon does not load (it accepts {string.Join(", ", Accepted)})"
            : $"unknown dtype '{dtype}' (safetensors dtypes surgeon accepts: {string.Join(", ", Accepted)})";
        return 0;
    }
}
