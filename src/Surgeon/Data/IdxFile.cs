using System.Buffers.Binary;
using System.IO.Compression;

namespace Surgeon.Data;

/// <summary>An IDX array of unsigned bytes (the format of the MNIST and Fashion-MNIST files): dimensions and data.</summary>
public sealed record IdxArray(int[] Dimensions, byte[] Data)
{
    public int Count => Dimensions.Length == 0 ? 0 : Dimensions[0];
}

/// <summary>
/// Reads and writes IDX files, raw or gzip-compressed (detected from the content, not the name).
/// Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each dimension as a
/// big-endian int32, then the data in row-major order.
/// </summary>
public static class IdxFile
{
    private const byte UnsignedByte = 0x08;

    public static IdxArray Read(string path)
    {
        IO.InputFiles.Check(path, "IDX");
        if (!File.Exists(path))
            throw new SurgeonException($"IDX file not found: {path}");
        try
        {
            using var file = File.OpenRead(path);
            return Read(file, path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new SurgeonException($"cannot read {path}: {e.Message}", e);
        }
    }

    public static IdxArray Read(Stream stream, string name)
    {
        byte[] bytes;
        try
        {
            bytes = ReadAllMaybeGzip(stream);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new SurgeonException($"{name}: corrupt or truncated gzip data ({e.Message})", e);
        }
        return Parse(bytes, name);
    }

    public static IdxArray Parse(byte[] bytes, string name)
    {
        if (bytes.Length < 4)
            throw new SurgeonException($"{name}: not an IDX file (only {bytes.Length} bytes)");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new SurgeonException($"{name}: not an IDX file (bad magic number 0x{bytes[0]:x2}{bytes[1]:x2}{bytes[2]:x2}{bytes[3]:x2})");
        if (bytes[2] != UnsignedByte)
            throw new SurgeonException($"{name}: IDX element type 0x{bytes[2]:x2} is not supported (only unsigned bytes, 0x08)");
        int rank = bytes[3];
        if (rank < 1 || rank > 4)
            throw new SurgeonException($"{name}: IDX file has {rank} dimensions; expected 1 to 4");
        int headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength)
            throw new SurgeonException($"{name}: truncated IDX header");
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * i));
            if (dims[i] < 0)
                throw new SurgeonException($"{name}: negative IDX dimension {dims[i]}");
            count *= dims[i];
        }
        long have = bytes.Length - headerLength;
        if (have < count)
            throw new SurgeonException($"{name}: truncated IDX file: header promises {count} bytes of data, file has {have}");
        if (have > count)
            throw new SurgeonException($"{name}: IDX file has {have - count} unexpected bytes after the data");
        return new IdxArray(dims, bytes.AsSpan(headerLength).ToArray());
    }

    /// <summary>Writes an unsigned-byte IDX file, gzip-compressed when <paramref name="gzip"/> is set. Atomic.</summary>
    public static void Write(string path, IdxArray array, bool gzip)
    {
        long count = array.Dimensions.Aggregate(1L, (a, d) => a * d);
        if (count != array.Data.Length)
            throw new ArgumentException($"dimensions promise {count} bytes, data has {array.Data.Length}");
        IO.AtomicFile.Write(path, stream =>
        {
            Stream target = gzip ? new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true) : stream;
            try
            {
                Span<byte> header = stackalloc byte[4];
                header[0] = 0; header[1] = 0; header[2] = UnsignedByte; header[3] = (byte)array.Dimensions.Length;
                target.Write(header);
                foreach (int d in array.Dimensions)
                {
                    BinaryPrimitives.WriteInt32BigEndian(header, d);
                    target.Write(header);
                }
                target.Write(array.Data);
            }
            finally
            {
                if (gzip) target.Dispose();
            }
        });
    }

    private static byte[] ReadAllMaybeGzip(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        byte[] raw = buffer.ToArray();
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var inflated = new MemoryStream();
            gz.CopyTo(inflated);
            return inflated.ToArray();
        }
        return raw;
    }
}
