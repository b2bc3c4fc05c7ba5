namespace Surgeon.Export.Onnx;

/// <summary>
/// The part of the ONNX schema (onnx.proto) that export writes, as plain records: one graph of float32 tensors, its
/// nodes, their attributes and the constant weights (float32, and int8 codes of quantised weights).
/// <see cref="OnnxWriter"/> turns it into OnnxSharp's ModelProto and its protobuf bytes.
/// </summary>
internal sealed record OnnxModel(OnnxGraph Graph, long IrVersion, long OpsetVersion, string ProducerName, string ProducerVersion,
    string DocString = "");

internal sealed record OnnxGraph(
    string Name,
    IReadOnlyList<OnnxNode> Nodes,
    IReadOnlyList<OnnxTensor> Initializers,
    IReadOnlyList<OnnxValueInfo> Inputs,
    IReadOnlyList<OnnxValueInfo> Outputs,
    IReadOnlyList<OnnxInt8Tensor>? Int8Initializers = null)
{
    public IReadOnlyList<OnnxInt8Tensor> Int8Initializers { get; init; } = Int8Initializers ?? [];
}

/// <summary>One operator application: <paramref name="OpType"/> of the default (ai.onnx) domain.</summary>
internal sealed record OnnxNode(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyList<OnnxAttribute> Attributes);

/// <summary>A node attribute holding one integer, one float or a list of integers (all that the exported operators use).</summary>
internal sealed record OnnxAttribute
{
    private OnnxAttribute(string name) => Name = name;

    public string Name { get; }
    public long? Int { get; private init; }
    public float? Float { get; private init; }
    public IReadOnlyList<long>? Ints { get; private init; }

    public static OnnxAttribute Of(string name, long value) => new(name) { Int = value };
    public static OnnxAttribute Of(string name, float value) => new(name) { Float = value };
    public static OnnxAttribute Of(string name, params long[] values) => new(name) { Ints = values };
}

/// <summary>A named float32 constant (an initializer), row-major.</summary>
internal sealed record OnnxTensor(string Name, IReadOnlyList<long> Dims, float[] Data);

/// <summary>A named int8 constant (quantised weight codes and zero points), row-major.</summary>
internal sealed record OnnxInt8Tensor(string Name, IReadOnlyList<long> Dims, sbyte[] Data);

/// <summary>
/// A float32 graph input or output; each dim is a fixed size or, where <see cref="OnnxDim.Symbol"/> is set, a
/// symbolic one (the batch).
/// </summary>
internal sealed record OnnxValueInfo(string Name, IReadOnlyList<OnnxDim> Shape);

internal readonly record struct OnnxDim(long Size, string? Symbol = null)
{
    public static OnnxDim Symbolic(string name) => new(0, name);
    public static implicit operator OnnxDim(long size) => new(size);
}
