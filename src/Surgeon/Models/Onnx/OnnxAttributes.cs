using Onnx;

namespace Surgeon.Models.Onnx;

/// <summary>A node's attributes by name, with the defaults of the operator's specification.</summary>
internal sealed class OnnxAttributes(NodeProto node, string context)
{
    private readonly Dictionary<string, AttributeProto> byName = node.Attribute.GroupBy(a => a.Name).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

    public bool Has(string name) => byName.ContainsKey(name);

    public long Int(string name, long fallback) => byName.TryGetValue(name, out var a) ? a.I : fallback;

    public float Float(string name, float fallback) => byName.TryGetValue(name, out var a) ? a.F : fallback;

    public string String(string name, string fallback) => byName.TryGetValue(name, out var a) ? a.S.ToStringUtf8() : fallback;

    public long[]? Ints(string name) => byName.TryGetValue(name, out var a) ? a.Ints.ToArray() : null;

    /// <summary>An ints attribute of exactly <paramref name="count"/> entries, or <paramref name="fallback"/> when absent.</summary>
    public long[] Ints(string name, int count, long fallback)
    {
        var values = Ints(name);
        if (values is null) return Enumerable.Repeat(fallback, count).ToArray();
        if (values.Length != count)
            throw new SurgeonException($"{context}: attribute {name} has {values.Length} entries, a 2-D operator needs {count}");
        return values;
    }

    /// <summary>Refuses an auto_pad other than NOTSET (explicit pads) or VALID (none).</summary>
    public void RequireExplicitPads()
    {
        string autoPad = String("auto_pad", "NOTSET");
        if (autoPad is not ("NOTSET" or "VALID" or ""))
            throw new SurgeonException($"{context}: auto_pad {autoPad} is not supported (Surgeon imports explicit pads)");
    }
}
