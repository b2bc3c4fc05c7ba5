using System.Buffers.Binary;
using System.Numerics;

namespace Surgeon.Export.Sparse;

/// <summary>How one tensor's values are stored in a sparse file (docs/export.md has the byte layout).</summary>
internal enum SparseEncoding
{
    /// <summary>Every element, in order.</summary>
    Dense,

    /// <summary>⌈n/8⌉ bytes with bit i (least significant first) set where element i is nonzero, then the nonzero values.</summary>
    Bitmask,

    /// <summary>The positions of the nonzero elements as increasing u16 (n ≤ 65,536) or u32 indices, then their values.</summary>
    Indices,
}

/// <summary>
/// Encodes a tensor's bytes in the smallest of the three encodings and decodes them back. An element is zero when all
/// of its bytes are zero or, for floats, all but the sign bit: −0.0 is a zero too, because pruning by masking
/// (w·0) leaves −0.0 wherever a negative weight was pruned, and storing those would keep half the pruned weights. A
/// bitmask or indices block therefore gives back +0.0 for −0.0, the only bit a round trip can change; a product with
/// either zero is a zero, so the model computes the same. Every other value (NaN payloads included) comes back bit for bit.
/// </summary>
internal static class SparseBlocks
{
    /// <summary>The largest tensor whose indices fit in u16 (indices 0 … 65,535).</summary>
    public const long MaxU16Elements = 1 << 16;

    public static int IndexBytes(long elements) => elements <= MaxU16Elements ? 2 : 4;

    public static string Name(SparseEncoding encoding) => encoding.ToString().ToLowerInvariant();

    public static bool TryParse(string name, out SparseEncoding encoding)
    {
        foreach (var e in Enum.GetValues<SparseEncoding>())
            if (Name(e) == name)
            {
                encoding = e;
                return true;
            }
        encoding = default;
        return false;
    }

    /// <summary>The bytes a tensor of <paramref name="elements"/> elements with <paramref name="stored"/> stored values takes.</summary>
    public static long BlockLength(SparseEncoding encoding, long elements, long stored, int elementSize) => encoding switch
    {
        SparseEncoding.Dense => checked(elements * elementSize),
        SparseEncoding.Bitmask => checked((elements + 7) / 8 + stored * elementSize),
        SparseEncoding.Indices => checked(stored * (IndexBytes(elements) + elementSize)),
        _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
    };

    /// <summary>The smallest encoding for <paramref name="nonzeros"/> nonzeros among <paramref name="elements"/>;
    /// on a tie the simpler one wins (dense, then bitmask, then indices).</summary>
    public static SparseEncoding Choose(long elements, long nonzeros, int elementSize)
    {
        long dense = BlockLength(SparseEncoding.Dense, elements, elements, elementSize);
        long bitmask = BlockLength(SparseEncoding.Bitmask, elements, nonzeros, elementSize);
        long indices = elements > uint.MaxValue ? long.MaxValue : BlockLength(SparseEncoding.Indices, elements, nonzeros, elementSize);
        return dense <= bitmask && dense <= indices ? SparseEncoding.Dense
            : bitmask <= indices ? SparseEncoding.Bitmask
            : SparseEncoding.Indices;
    }

    /// <summary>The block of one tensor's <paramref name="data"/> (n little-endian elements of <paramref name="elementSize"/>
    /// bytes; <paramref name="isFloat"/>: −0.0 is a zero): its encoding, how many values it stores, and its bytes.</summary>
    public static (SparseEncoding Encoding, long Stored, byte[] Block) Encode(ReadOnlySpan<byte> data, int elementSize, bool isFloat)
    {
        if (elementSize < 1 || data.Length % elementSize != 0)
            throw new ArgumentException($"{data.Length} bytes are not a whole number of {elementSize}-byte elements", nameof(data));
        long n = data.Length / elementSize;
        long nonzeros = 0;
        for (long i = 0; i < n; i++)
            if (IsNonzero(data, i, elementSize, isFloat)) nonzeros++;
        var encoding = Choose(n, nonzeros, elementSize);
        if (encoding == SparseEncoding.Dense)
            return (encoding, n, data.ToArray());

        var block = new byte[BlockLength(encoding, n, nonzeros, elementSize)];
        int headBytes = encoding == SparseEncoding.Bitmask ? (int)((n + 7) / 8) : (int)(nonzeros * IndexBytes(n));
        int indexBytes = IndexBytes(n);
        int value = headBytes, k = 0;
        for (long i = 0; i < n; i++)
        {
            if (!IsNonzero(data, i, elementSize, isFloat)) continue;
            if (encoding == SparseEncoding.Bitmask)
                block[i / 8] |= (byte)(1 << (int)(i % 8));
            else if (indexBytes == 2)
                BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(k * 2), (ushort)i);
            else
                BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(k * 4), (uint)i);
            data.Slice((int)(i * elementSize), elementSize).CopyTo(block.AsSpan(value));
            value += elementSize;
            k++;
        }
        return (encoding, nonzeros, block);
    }

    /// <summary>
    /// The tensor's bytes from its block. A block that does not match what the header says (its length, the number of
    /// set bits, indices out of order or range, stray padding bits) throws <see cref="InvalidDataException"/> saying so.
    /// </summary>
    public static byte[] Decode(ReadOnlySpan<byte> block, SparseEncoding encoding, long elements, long stored, int elementSize)
    {
        if (stored < 0 || stored > elements)
            throw new InvalidDataException($"it claims {stored} stored values for {elements} elements");
        if (encoding == SparseEncoding.Dense && stored != elements)
            throw new InvalidDataException($"a dense tensor of {elements} elements must store {elements} values, not {stored}");
        if (encoding == SparseEncoding.Indices && elements > uint.MaxValue)
            throw new InvalidDataException($"{elements} elements are too many for u32 indices");
        long expected = BlockLength(encoding, elements, stored, elementSize);
        if (block.Length != expected)
            throw new InvalidDataException($"its block is {block.Length} bytes but a {Name(encoding)} block of {stored} values needs {expected}");
        if (encoding == SparseEncoding.Dense)
            return block.ToArray();

        var data = new byte[checked(elements * elementSize)];
        if (encoding == SparseEncoding.Bitmask)
        {
            int maskBytes = (int)((elements + 7) / 8);
            var mask = block[..maskBytes];
            long set = 0;
            foreach (byte b in mask) set += BitOperations.PopCount(b);
            if (set != stored)
                throw new InvalidDataException($"its bitmask has {set} bits set but the header says {stored} values are stored");
            int spare = maskBytes * 8 - (int)elements;
            if (spare > 0 && (mask[^1] >> (8 - spare)) != 0)
                throw new InvalidDataException("its bitmask sets bits past the last element");
            int value = maskBytes;
            for (long i = 0; i < elements; i++)
                if ((mask[(int)(i / 8)] & (1 << (int)(i % 8))) != 0)
                {
                    block.Slice(value, elementSize).CopyTo(data.AsSpan((int)(i * elementSize)));
                    value += elementSize;
                }
            return data;
        }

        int indexBytes = IndexBytes(elements);
        int values = (int)(stored * indexBytes);
        long previous = -1;
        for (int k = 0; k < stored; k++)
        {
            long i = indexBytes == 2
                ? BinaryPrimitives.ReadUInt16LittleEndian(block[(k * 2)..])
                : BinaryPrimitives.ReadUInt32LittleEndian(block[(k * 4)..]);
            if (i <= previous)
                throw new InvalidDataException($"its index {k} ({i}) does not follow the one before ({previous}): indices must increase");
            if (i >= elements)
                throw new InvalidDataException($"its index {k} ({i}) is past the last element ({elements - 1})");
            block.Slice(values + k * elementSize, elementSize).CopyTo(data.AsSpan((int)(i * elementSize)));
            previous = i;
        }
        return data;
    }

    private static bool IsNonzero(ReadOnlySpan<byte> data, long index, int elementSize, bool isFloat)
    {
        var element = data.Slice((int)(index * elementSize), elementSize);
        // Little-endian: a float's sign bit is the top bit of its last byte.
        return element[..^1].IndexOfAnyExcept((byte)0) >= 0 || (element[^1] & (isFloat ? 0x7F : 0xFF)) != 0;
    }
}
