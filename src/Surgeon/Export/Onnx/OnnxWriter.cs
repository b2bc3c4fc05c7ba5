using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;

namespace Surgeon.Export.Onnx;

/// <summary>
/// Encodes an <see cref="OnnxModel"/> in the protobuf wire format of onnx.proto, field by field with
/// <see cref="CodedOutputStream"/> (no generated code: the handful of messages export needs are written by hand).
/// onnx.proto is proto2, so repeated integers (dims, ints) are written unpacked, as that syntax declares them.
/// </summary>
public static class OnnxWriter
{
    // Field numbers from onnx.proto, per message.
    private static class ModelProto { public const int IrVersion = 1, ProducerName = 2, ProducerVersion = 3, DocString = 6, Graph = 7, OpsetImport = 8; }
    private static class OperatorSetIdProto { public const int Domain = 1, Version = 2; }
    private static class GraphProto { public const int Node = 1, Name = 2, Initializer = 5, Input = 11, Output = 12; }
    private static class NodeProto { public const int Input = 1, Output = 2, Name = 3, OpType = 4, Attribute = 5; }
    private static class AttributeProto { public const int Name = 1, F = 2, I = 3, Ints = 8, Type = 20; }
    private static class TensorProto { public const int Dims = 1, DataType = 2, Name = 8, RawData = 9; }
    private static class ValueInfoProto { public const int Name = 1, Type = 2; }
    private static class TypeProto { public const int TensorType = 1; }
    private static class TypeProtoTensor { public const int ElemType = 1, Shape = 2; }
    private static class TensorShapeProto { public const int Dim = 1; }
    private static class Dimension { public const int DimValue = 1, DimParam = 2; }

    // Enum values from onnx.proto.
    private const int AttributeFloat = 1, AttributeInt = 2, AttributeInts = 7; // AttributeProto.AttributeType
    private const int DataTypeFloat = 1, DataTypeInt8 = 3;                     // TensorProto.DataType

    public static void Write(OnnxModel model, Stream stream)
    {
        using var output = new CodedOutputStream(stream, leaveOpen: true);
        WriteModel(output, model);
        output.Flush();
    }

    public static byte[] ToBytes(OnnxModel model)
    {
        using var buffer = new MemoryStream();
        Write(model, buffer);
        return buffer.ToArray();
    }

    private static void WriteModel(CodedOutputStream o, OnnxModel model)
    {
        Int64(o, ModelProto.IrVersion, model.IrVersion);
        String(o, ModelProto.ProducerName, model.ProducerName);
        String(o, ModelProto.ProducerVersion, model.ProducerVersion);
        if (model.DocString.Length > 0)
            String(o, ModelProto.DocString, model.DocString);
        // The default domain ("") is left out, as its absence means ai.onnx.
        Message(o, ModelProto.OpsetImport, m => Int64(m, OperatorSetIdProto.Version, model.OpsetVersion));
        Message(o, ModelProto.Graph, g => WriteGraph(g, model.Graph));
    }

    private static void WriteGraph(CodedOutputStream o, OnnxGraph graph)
    {
        foreach (var node in graph.Nodes)
            Message(o, GraphProto.Node, n => WriteNode(n, node));
        String(o, GraphProto.Name, graph.Name);
        foreach (var tensor in graph.Initializers)
            Message(o, GraphProto.Initializer, t => WriteTensor(t, tensor.Name, tensor.Dims, tensor.Data.Length, DataTypeFloat, LittleEndianBytes(tensor.Data)));
        foreach (var tensor in graph.Int8Initializers)
            Message(o, GraphProto.Initializer, t => WriteTensor(t, tensor.Name, tensor.Dims, tensor.Data.Length, DataTypeInt8,
                MemoryMarshal.AsBytes(tensor.Data.AsSpan()).ToArray()));
        foreach (var input in graph.Inputs)
            Message(o, GraphProto.Input, v => WriteValueInfo(v, input));
        foreach (var output in graph.Outputs)
            Message(o, GraphProto.Output, v => WriteValueInfo(v, output));
    }

    private static void WriteNode(CodedOutputStream o, OnnxNode node)
    {
        foreach (string input in node.Inputs)
            String(o, NodeProto.Input, input);
        foreach (string output in node.Outputs)
            String(o, NodeProto.Output, output);
        String(o, NodeProto.Name, node.Name);
        String(o, NodeProto.OpType, node.OpType);
        foreach (var attribute in node.Attributes)
            Message(o, NodeProto.Attribute, a => WriteAttribute(a, attribute));
    }

    private static void WriteAttribute(CodedOutputStream o, OnnxAttribute attribute)
    {
        String(o, AttributeProto.Name, attribute.Name);
        if (attribute.Int is long i)
        {
            Int64(o, AttributeProto.I, i);
            Int32(o, AttributeProto.Type, AttributeInt);
        }
        else if (attribute.Float is float f)
        {
            o.WriteTag(AttributeProto.F, WireFormat.WireType.Fixed32);
            o.WriteFloat(f);
            Int32(o, AttributeProto.Type, AttributeFloat);
        }
        else if (attribute.Ints is { } ints)
        {
            foreach (long value in ints)
                Int64(o, AttributeProto.Ints, value);
            Int32(o, AttributeProto.Type, AttributeInts);
        }
        else
        {
            throw new InvalidOperationException($"attribute {attribute.Name} has no value");
        }
    }

    private static void WriteTensor(CodedOutputStream o, string name, IReadOnlyList<long> dims, int values, int dataType, byte[] rawData)
    {
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count != values)
            throw new InvalidOperationException($"initializer {name}: dims [{string.Join(',', dims)}] hold {count} values, data has {values}");
        foreach (long dim in dims)
            Int64(o, TensorProto.Dims, dim);
        Int32(o, TensorProto.DataType, dataType);
        String(o, TensorProto.Name, name);
        o.WriteTag(TensorProto.RawData, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(rawData));
    }

    private static void WriteValueInfo(CodedOutputStream o, OnnxValueInfo value)
    {
        String(o, ValueInfoProto.Name, value.Name);
        Message(o, ValueInfoProto.Type, type =>
            Message(type, TypeProto.TensorType, tensor =>
            {
                Int32(tensor, TypeProtoTensor.ElemType, DataTypeFloat);
                Message(tensor, TypeProtoTensor.Shape, shape =>
                {
                    foreach (var dim in value.Shape)
                        Message(shape, TensorShapeProto.Dim, d =>
                        {
                            if (dim.Symbol is { } symbol) String(d, Dimension.DimParam, symbol);
                            else Int64(d, Dimension.DimValue, dim.Size);
                        });
                });
            }));
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

    /// <summary>A nested message: protobuf prefixes it with its length, so it is encoded first, then copied in.</summary>
    private static void Message(CodedOutputStream o, int field, Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        using (var nested = new CodedOutputStream(buffer, leaveOpen: true))
        {
            write(nested);
            nested.Flush();
        }
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteBytes(UnsafeByteOperations.UnsafeWrap(buffer.GetBuffer().AsMemory(0, (int)buffer.Length)));
    }

    private static void String(CodedOutputStream o, int field, string value)
    {
        o.WriteTag(field, WireFormat.WireType.LengthDelimited);
        o.WriteString(value);
    }

    private static void Int64(CodedOutputStream o, int field, long value)
    {
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt64(value);
    }

    private static void Int32(CodedOutputStream o, int field, int value)
    {
        o.WriteTag(field, WireFormat.WireType.Varint);
        o.WriteInt32(value);
    }
}
