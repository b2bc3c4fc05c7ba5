using System.Text;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>
/// Reads the table of contents of a TorchSharp weights file (<c>Module.save</c>: a LEB128 tensor count, then per
/// tensor its name, dtype code, rank, dimensions and raw data) and checks it against the tensors a model expects, so a
/// file of another format, a truncated one, or weights of another architecture or shape is named precisely before
/// TorchSharp reads any data.
/// </summary>
internal static class WeightsFile
{
    private const int MaxTensors = 100_000, MaxNameBytes = 4096, MaxRank = 8;

    /// <summary>One tensor of the file: name, TorchSharp dtype code and shape.</summary>
    public sealed record Entry(string Name, int DType, long[] Shape);

    /// <summary>Checks that <paramref name="path"/> holds exactly the tensors of a model's state (name, dtype, shape; e.g.
    /// <see cref="Models.ModelRegistry.StateOf"/>, which needs no model in memory). <paramref name="describe"/> names the
    /// model in messages, e.g. "mlpnet of width 2 for 1x28x28 inputs".</summary>
    public static void Verify(string path, IReadOnlyList<(string Name, ScalarType DType, long[] Shape)> state, string describe)
    {
        var expected = state.ToDictionary(t => t.Name, t => (dtype: t.DType, shape: t.Shape));
        var entries = ReadEntries(path, expected.ToDictionary(kv => kv.Key, kv => ElementSize((int)kv.Value.dtype, path, kv.Key)));
        var (missing, unknown) = NameList.Differences(expected.Keys, entries.Select(e => e.Name).ToList());
        if (missing.Count > 0 || unknown.Count > 0)
            throw new SurgeonException(
                $"{path} holds the weights of another model than the {describe} its sidecar describes (" +
                NameList.DescribeDifferences(missing, unknown) + "); re-create the checkpoint or restore its sidecar");
        foreach (var e in entries)
        {
            var want = expected[e.Name];
            if (e.DType != (int)want.dtype)
                throw new SurgeonException($"{path}: {e.Name} is stored as dtype {e.DType} but a {describe} needs {want.dtype}; re-create the checkpoint");
            if (!e.Shape.AsSpan().SequenceEqual(want.shape))
                throw new SurgeonException(
                    $"{path}: {e.Name} is {ShapeText.Of(e.Shape)} but a {describe} needs {ShapeText.Of(want.shape)}: the sidecar does not describe these weights; re-create the checkpoint or restore its sidecar");
        }
    }

    /// <summary>The tensors of the file, in file order. <paramref name="elementSizes"/> gives the bytes per element of
    /// the names a caller knows; the data of other names is skipped by the size of their dtype.</summary>
    public static IReadOnlyList<Entry> ReadEntries(string path, IReadOnlyDictionary<string, long>? elementSizes = null)
    {
        using var stream = File.OpenRead(path);
        long length = stream.Length;
        using var reader = new BinaryReader(stream);
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var entries = new List<Entry>();
        try
        {
            long count = ReadVarint(reader);
            if (count < 1 || count > MaxTensors)
                throw Bad(path, $"it claims {count} tensors");
            for (long i = 0; i < count; i++)
            {
                long nameBytes = ReadVarint(reader);
                if (nameBytes < 1 || nameBytes > MaxNameBytes)
                    throw Bad(path, $"tensor {i} has a name of {nameBytes} bytes");
                string name = utf8.GetString(ReadExactly(reader, (int)nameBytes));
                if (name.Any(char.IsControl))
                    throw Bad(path, $"tensor {i} has a name with control characters");
                int dtype = checked((int)ReadVarint(reader));
                long rank = ReadVarint(reader);
                if (rank > MaxRank)
                    throw Bad(path, $"{name} has {rank} dimensions");
                var shape = new long[rank];
                long elements = 1;
                for (int d = 0; d < rank; d++)
                {
                    shape[d] = ReadVarint(reader);
                    elements = checked(elements * shape[d]);
                }
                long size = elementSizes is not null && elementSizes.TryGetValue(name, out long known) ? known : ElementSize(dtype, path, name);
                long bytes = checked(elements * size);
                if (bytes > length - stream.Position)
                    throw Bad(path, $"{name} needs {bytes} bytes of data but only {length - stream.Position} are left: the file is truncated");
                stream.Seek(bytes, SeekOrigin.Current);
                entries.Add(new Entry(name, dtype, shape));
            }
        }
        catch (Exception e) when (e is EndOfStreamException or OverflowException or DecoderFallbackException)
        {
            throw Bad(path, e is EndOfStreamException ? "it ends early: the file is truncated" : "its table of contents is garbled");
        }
        if (stream.Position != length)
            throw Bad(path, $"{length - stream.Position} bytes follow the last tensor");
        return entries;
    }

    private static SurgeonException Bad(string path, string why) =>
        new($"{path} is not a valid TorchSharp weights file ({why}); re-create the checkpoint");

    private static byte[] ReadExactly(BinaryReader reader, int count)
    {
        var bytes = reader.ReadBytes(count);
        return bytes.Length == count ? bytes : throw new EndOfStreamException();
    }

    // TorchSharp's BinaryReader.Decode: 7 bits per byte, least significant first, high bit = more bytes follow.
    private static long ReadVarint(BinaryReader reader)
    {
        long value = 0;
        for (int shift = 0; shift < 63; shift += 7)
        {
            byte b = reader.ReadByte();
            value |= (long)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new OverflowException();
    }

    private static long ElementSize(int dtype, string path, string name) => (ScalarType)dtype switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        ScalarType.Int64 or ScalarType.Float64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.ComplexFloat64 => 16,
        _ => throw Bad(path, $"{name} has unknown dtype code {dtype}"),
    };
}
