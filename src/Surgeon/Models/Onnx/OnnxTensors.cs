using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>
/// Initializers (TensorProto) to and from TorchSharp tensors: float32, int64 and int32, from raw_data (little-endian,
/// as onnx.proto fixes it) or the typed repeated fields. External data must have been read in already
/// (<see cref="OnnxFile"/> does that and refuses a missing file).
/// </summary>
internal static class OnnxTensors
{
    public const int Float = (int)TensorProto.Types.DataType.Float;
    public const int Int64 = (int)TensorProto.Types.DataType.Int64;
    public const int Int32 = (int)TensorProto.Types.DataType.Int32;

    /// <summary>The float32 values of a float tensor (or of integers, converted), with its dims.</summary>
    public static Tensor ToTensor(TensorProto t, string context)
    {
        long[] dims = t.Dims.ToArray();
        long count = Count(dims, t.Name, context);
        switch (t.DataType)
        {
            case Float:
                {
                    var data = new float[count];
                    if (!t.RawData.IsEmpty)
                    {
                        var raw = Raw(t, count, sizeof(float), context);
                        for (int i = 0; i < data.Length; i++)
                            data[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(i * sizeof(float)));
                    }
                    else if (t.FloatData.Count == count)
                        t.FloatData.CopyTo(data, 0);
                    else
                        throw Mismatch(t, count, t.FloatData.Count, context);
                    return tensor(data, dims, ScalarType.Float32);
                }
            case Int64:
            case Int32:
                return tensor(Integers(t, context), dims, ScalarType.Int64);
            default:
                throw new SurgeonException($"{context}: tensor {t.Name} has ONNX data type {DataTypeName(t.DataType)}; Surgeon reads float32, int64 and int32 tensors");
        }
    }

    /// <summary>The values of an integer tensor (a Reshape's shape, a Clip's bounds as int64 never occur).</summary>
    public static long[] Integers(TensorProto t, string context)
    {
        long count = Count(t.Dims.ToArray(), t.Name, context);
        var data = new long[count];
        if (t.DataType == Int64)
        {
            if (!t.RawData.IsEmpty)
            {
                var raw = Raw(t, count, sizeof(long), context);
                for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.Slice(i * sizeof(long)));
            }
            else if (t.Int64Data.Count == count) t.Int64Data.CopyTo(data, 0);
            else throw Mismatch(t, count, t.Int64Data.Count, context);
        }
        else if (t.DataType == Int32)
        {
            if (!t.RawData.IsEmpty)
            {
                var raw = Raw(t, count, sizeof(int), context);
                for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadInt32LittleEndian(raw.Slice(i * sizeof(int)));
            }
            else if (t.Int32Data.Count == count) for (int i = 0; i < data.Length; i++) data[i] = t.Int32Data[i];
            else throw Mismatch(t, count, t.Int32Data.Count, context);
        }
        else
        {
            throw new SurgeonException($"{context}: tensor {t.Name} has ONNX data type {DataTypeName(t.DataType)} where integers are needed");
        }
        return data;
    }

    /// <summary>A float32 initializer holding <paramref name="value"/> (raw_data, little-endian).</summary>
    public static TensorProto FromTensor(string name, Tensor value)
    {
        using var cpu = value.detach().cpu().to(ScalarType.Float32).contiguous();
        var data = cpu.data<float>().ToArray();
        var bytes = new byte[checked(data.Length * sizeof(float))];
        for (int i = 0; i < data.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), data[i]);
        var t = new TensorProto { Name = name, DataType = Float, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(value.shape);
        return t;
    }

    /// <summary>An int64 initializer (a Reshape's target shape).</summary>
    public static TensorProto FromIntegers(string name, long[] values, long[]? dims = null)
    {
        var t = new TensorProto { Name = name, DataType = Int64 };
        t.Dims.AddRange(dims ?? [values.Length]);
        t.Int64Data.AddRange(values);
        return t;
    }

    public static string DataTypeName(int type) =>
        Enum.IsDefined(typeof(TensorProto.Types.DataType), type) ? ((TensorProto.Types.DataType)type).ToString().ToLowerInvariant() : type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static long Count(long[] dims, string name, string context)
    {
        long count = 1;
        foreach (long d in dims)
        {
            if (d < 0) throw new SurgeonException($"{context}: tensor {name} has a negative dimension ({string.Join('x', dims)})");
            count = d == 0 ? 0 : count <= int.MaxValue / d ? count * d : throw new SurgeonException($"{context}: tensor {name} ({string.Join('x', dims)}) is too large");
        }
        return count;
    }

    private static ReadOnlySpan<byte> Raw(TensorProto t, long count, int size, string context)
    {
        if (t.RawData.Length != count * size)
            throw Mismatch(t, count, t.RawData.Length / size, context);
        return t.RawData.Span;
    }

    private static SurgeonException Mismatch(TensorProto t, long want, long have, string context) =>
        new($"{context}: tensor {t.Name} has dims {string.Join('x', t.Dims)} ({want} values) but holds {have} (a truncated or corrupt file)");
}
