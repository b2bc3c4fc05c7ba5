using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace Surgeon.Export.Onnx;

/// <summary>
/// Turns an <see cref="OnnxModel"/> into OnnxSharp's <see cref="ModelProto"/> (the classes generated from onnx.proto)
/// and writes its protobuf bytes: the same classes the importer reads (Models/Onnx), so export and import share one
/// definition of the format.
/// </summary>
internal static class OnnxWriter
{
    public static void Write(OnnxModel model, Stream stream) => ToProto(model).WriteTo(stream);

    public static byte[] ToBytes(OnnxModel model) => ToProto(model).ToByteArray();

    public static ModelProto ToProto(OnnxModel model)
    {
        var proto = new ModelProto
        {
            IrVersion = model.IrVersion,
            ProducerName = model.ProducerName,
            ProducerVersion = model.ProducerVersion,
            DocString = model.DocString,
            Graph = Graph(model.Graph),
        };
        // The default domain ("") stands for ai.onnx.
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = model.OpsetVersion });
        return proto;
    }

    private static GraphProto Graph(OnnxGraph graph)
    {
        var proto = new GraphProto { Name = graph.Name };
        proto.Node.AddRange(graph.Nodes.Select(Node));
        foreach (var tensor in graph.Initializers)
            proto.Initializer.Add(Tensor(tensor.Name, tensor.Dims, tensor.Data.Length, TensorProto.Types.DataType.Float, LittleEndianBytes(tensor.Data)));
        foreach (var tensor in graph.Int8Initializers)
            proto.Initializer.Add(Tensor(tensor.Name, tensor.Dims, tensor.Data.Length, TensorProto.Types.DataType.Int8,
                MemoryMarshal.AsBytes(tensor.Data.AsSpan()).ToArray()));
        proto.Input.AddRange(graph.Inputs.Select(ValueInfo));
        proto.Output.AddRange(graph.Outputs.Select(ValueInfo));
        return proto;
    }

    private static NodeProto Node(OnnxNode node)
    {
        var proto = new NodeProto { Name = node.Name, OpType = node.OpType };
        proto.Input.AddRange(node.Inputs);
        proto.Output.AddRange(node.Outputs);
        proto.Attribute.AddRange(node.Attributes.Select(Attribute));
        return proto;
    }

    private static AttributeProto Attribute(OnnxAttribute attribute)
    {
        var proto = new AttributeProto { Name = attribute.Name };
        if (attribute.Int is long i)
        {
            proto.I = i;
            proto.Type = AttributeProto.Types.AttributeType.Int;
        }
        else if (attribute.Float is float f)
        {
            proto.F = f;
            proto.Type = AttributeProto.Types.AttributeType.Float;
        }
        else if (attribute.Ints is { } ints)
        {
            proto.Ints.AddRange(ints);
            proto.Type = AttributeProto.Types.AttributeType.Ints;
        }
        else
        {
            throw new InvalidOperationException($"attribute {attribute.Name} has no value");
        }
        return proto;
    }

    private static TensorProto Tensor(string name, IReadOnlyList<long> dims, int values, TensorProto.Types.DataType type, byte[] rawData)
    {
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count != values)
            throw new InvalidOperationException($"initializer {name}: dims [{string.Join(',', dims)}] hold {count} values, data has {values}");
        var proto = new TensorProto { Name = name, DataType = (int)type, RawData = UnsafeByteOperations.UnsafeWrap(rawData) };
        proto.Dims.AddRange(dims);
        return proto;
    }

    private static ValueInfoProto ValueInfo(OnnxValueInfo value)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in value.Shape)
            shape.Dim.Add(dim.Symbol is { } symbol
                ? new TensorShapeProto.Types.Dimension { DimParam = symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = dim.Size });
        return new ValueInfoProto
        {
            Name = value.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    /// <summary>raw_data must be fixed-width little-endian IEEE 754 (onnx.proto), whatever this machine's byte order.</summary>
    private static byte[] LittleEndianBytes(float[] data)
    {
        var bytes = new byte[checked(data.Length * sizeof(float))];
        if (BitConverter.IsLittleEndian)
            MemoryMarshal.AsBytes(data.AsSpan()).CopyTo(bytes);
        else
            for (int i = 0; i < data.Length; i++)
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), data[i]);
        return bytes;
    }
}
