using static TorchSharp.torch;

namespace Surgeon.Export;

/// <summary>
/// The element types a model's state can hold, named as safetensors names them ("F32", "I64", ...). The sparse file
/// uses the same names, so one table serves both formats.
/// </summary>
internal static class ElementTypes
{
    private static readonly (string Name, ScalarType Type, int Size)[] Table =
    [
        ("F32", ScalarType.Float32, 4),
        ("F64", ScalarType.Float64, 8),
        ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2),
        ("I64", ScalarType.Int64, 8),
        ("I32", ScalarType.Int32, 4),
        ("I16", ScalarType.Int16, 2),
        ("I8", ScalarType.Int8, 1),
        ("U8", ScalarType.Byte, 1),
        ("BOOL", ScalarType.Bool, 1),
    ];

    public static IEnumerable<string> Names => Table.Select(t => t.Name);

    public static string NameOf(ScalarType type)
    {
        foreach (var t in Table)
            if (t.Type == type) return t.Name;
        throw new SurgeonException($"tensors of type {type} cannot be stored; the model's state should be float32 or integer");
    }

    public static bool TryGet(string name, out ScalarType type, out int size)
    {
        foreach (var t in Table)
            if (t.Name == name)
            {
                (type, size) = (t.Type, t.Size);
                return true;
            }
        (type, size) = (default, 0);
        return false;
    }

    /// <summary>A floating-point type (F32, F64, F16, BF16), whose sign bit is its top bit.</summary>
    public static bool IsFloat(string name) => name is "F32" or "F64" or "F16" or "BF16";

    public static int SizeOf(string name) =>
        TryGet(name, out _, out int size) ? size : throw new ArgumentException($"unknown element type {name}", nameof(name));

    public static ScalarType TypeOf(string name) =>
        TryGet(name, out var type, out _) ? type : throw new ArgumentException($"unknown element type {name}", nameof(name));
}
