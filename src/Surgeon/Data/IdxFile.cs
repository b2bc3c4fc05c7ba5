using System.Buffers.Binary;
using System.IO.Compression;

namespace Surgeon.Data;

/// <summary>An IDX array of unsigned bytes (the format of the MNIST and Fashion-MNIST files): dimensions and data.</summary>
internal sealed record IdxArray(int[] Dimensions, byte[] Data)
{
    public int Count => Dimensions.Length == 0 ? 0 : Dimensions[0];
}

/// <summary>
/// Reads and writes IDX files, raw or gzip-compressed (detected from the content, not the name).
/// Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each dimension as a
/// big-endian int32, then the data in row-major order.
/// </summary>
internal static class IdxFile
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

    /// <summary>Deflate inflates at most 1,032 bytes per compressed byte: a gzip file cannot hold more data than this times its size.</summary>
    public const int MaxGzipRatio = 1032;

    /// <summary>
    /// Reads an IDX array from <paramref name="stream"/> (raw or gzip). The header is read and checked first: its
    /// dimensions multiply in checked arithmetic, and a header that promises more data than the file can hold (its size,
    /// or 1,032 times it when gzip-compressed) is refused before the data is allocated, so a hostile header cannot make
    /// the reader allocate more than a multiple of the file's size.
    /// </summary>
    public static IdxArray Read(Stream stream, string name)
    {
        if (!stream.CanSeek)
        {
            var copy = new MemoryStream();
            stream.CopyTo(copy);
            copy.Position = 0;
            stream = copy;
        }
        long fileBytes = stream.Length - stream.Position;
        Span<byte> magic = stackalloc byte[2];
        int seen = stream.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        stream.Seek(-seen, SeekOrigin.Current);
        bool gzip = seen == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (!gzip) return Parse(stream, name, fileBytes, compressed: false);
        try
        {
            using var inflated = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            return Parse(inflated, name, fileBytes, compressed: true);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new SurgeonException($"{name}: corrupt or truncated gzip data ({e.Message})", e);
        }
    }

    /// <summary>Parses a whole IDX file held in memory (raw, not compressed).</summary>
    public static IdxArray Parse(byte[] bytes, string name)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return Parse(stream, name, bytes.Length, compressed: false);
    }

    /// <param name="fileBytes">The size of the file.</param>
    /// <param name="compressed">The source inflates the file: it holds at most <see cref="MaxGzipRatio"/> times its size.</param>
    private static IdxArray Parse(Stream source, string name, long fileBytes, bool compressed)
    {
        Span<byte> head = stackalloc byte[4];
        int got = source.ReadAtLeast(head, 4, throwOnEndOfStream: false);
        if (got < 4)
            throw new SurgeonException($"{name}: not an IDX file (only {got} bytes)");
        if (head[0] != 0 || head[1] != 0)
            throw new SurgeonException($"{name}: not an IDX file (bad magic number 0x{head[0]:x2}{head[1]:x2}{head[2]:x2}{head[3]:x2})");
        if (head[2] != UnsignedByte)
            throw new SurgeonException($"{name}: IDX element type 0x{head[2]:x2} is not supported (only unsigned bytes, 0x08)");
        int rank = head[3];
        if (rank < 1 || rank > 4)
            throw new SurgeonException($"{name}: IDX file has {rank} dimensions; expected 1 to 4");
        Span<byte> sizes = stackalloc byte[4 * rank];
        if (source.ReadAtLeast(sizes, sizes.Length, throwOnEndOfStream: false) < sizes.Length)
            throw new SurgeonException($"{name}: truncated IDX header");
        var dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(sizes[(4 * i)..]);
            if (dims[i] < 0)
                throw new SurgeonException($"{name}: negative IDX dimension {dims[i]}");
        }
        long count = 1;
        try
        {
            foreach (int d in dims) count = checked(count * d);
        }
        catch (OverflowException)
        {
            throw new SurgeonException($"{name}: IDX header dimensions {string.Join('×', dims)} multiply to more bytes than any file holds");
        }
        long headerLength = 4 + 4L * rank;
        if (!compressed && count != fileBytes - headerLength)
            throw new SurgeonException(count > fileBytes - headerLength
                ? $"{name}: truncated IDX file: header promises {count} bytes of data, file has {fileBytes - headerLength}"
                : $"{name}: IDX file has {fileBytes - headerLength - count} unexpected bytes after the data");
        if (compressed && count > fileBytes * MaxGzipRatio)
            throw new SurgeonException($"{name}: truncated IDX file: header promises {count} bytes of data, more than its {fileBytes} compressed bytes can hold");
        if (count > Array.MaxLength)
            throw new SurgeonException($"{name}: IDX header promises {count} bytes of data, more than Surgeon reads into memory ({Array.MaxLength})");
        var data = new byte[count];
        int have = source.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (have < count)
            throw new SurgeonException($"{name}: truncated IDX file: header promises {count} bytes of data, file has {have}");
        Span<byte> more = stackalloc byte[1];
        if (compressed && source.Read(more) > 0)
            throw new SurgeonException($"{name}: IDX file has unexpected bytes after the data");
        return new IdxArray(dims, data);
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
}
