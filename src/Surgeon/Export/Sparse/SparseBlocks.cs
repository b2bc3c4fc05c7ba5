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

    /// <summary>
    /// For a tensor with at most 2 nonzeros in every group of 4 consecutive elements (a 2:4 mask): per group which 2 of
    /// its 4 positions are stored, one of the 6 pairs, three groups to a byte (6³ = 216 codes), then the 2 values of
    /// every group. The mask takes 8 bits per 3 groups where a bitmask takes 12. Named "2:4" in the file.
    /// </summary>
    TwoOfFour,
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

    public static string Name(SparseEncoding encoding) => encoding == SparseEncoding.TwoOfFour ? "2:4" : encoding.ToString().ToLowerInvariant();

    /// <summary>The 6 pairs of positions a 2:4 group may store, in the order of their codes.</summary>
    public static readonly (int First, int Second)[] Pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];

    /// <summary>Pattern bytes of a 2:4 block of <paramref name="elements"/> elements: three groups of 4 to a byte.</summary>
    public static long PatternBytes(long elements) => (elements / 4 + 2) / 3;

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
        SparseEncoding.TwoOfFour => checked(PatternBytes(elements) + stored * elementSize),
        _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
    };

    /// <summary>The smallest encoding for <paramref name="nonzeros"/> nonzeros among <paramref name="elements"/>
    /// (<paramref name="twoOfFour"/>: every group of 4 has at most 2, so the 2:4 block is possible); on a tie the simpler
    /// one wins (dense, then bitmask, then indices, then 2:4).</summary>
    public static SparseEncoding Choose(long elements, long nonzeros, int elementSize, bool twoOfFour = false)
    {
        long dense = BlockLength(SparseEncoding.Dense, elements, elements, elementSize);
        long bitmask = BlockLength(SparseEncoding.Bitmask, elements, nonzeros, elementSize);
        long indices = elements > uint.MaxValue ? long.MaxValue : BlockLength(SparseEncoding.Indices, elements, nonzeros, elementSize);
        long pairs = twoOfFour ? BlockLength(SparseEncoding.TwoOfFour, elements, elements / 2, elementSize) : long.MaxValue;
        long best = Math.Min(Math.Min(dense, bitmask), Math.Min(indices, pairs));
        return dense == best ? SparseEncoding.Dense
            : bitmask == best ? SparseEncoding.Bitmask
            : indices == best ? SparseEncoding.Indices
            : SparseEncoding.TwoOfFour;
    }

    /// <summary>Whether every group of 4 consecutive elements has at most 2 nonzeros (and there are whole groups).</summary>
    private static bool FitsTwoOfFour(ReadOnlySpan<byte> data, long n, int elementSize, bool isFloat)
    {
        if (n == 0 || n % 4 != 0) return false;
        for (long g = 0; g < n; g += 4)
        {
            int count = 0;
            for (long i = g; i < g + 4; i++)
                if (IsNonzero(data, i, elementSize, isFloat)) count++;
            if (count > 2) return false;
        }
        return true;
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
        var encoding = Choose(n, nonzeros, elementSize, FitsTwoOfFour(data, n, elementSize, isFloat));
        if (encoding == SparseEncoding.Dense)
            return (encoding, n, data.ToArray());
        if (encoding == SparseEncoding.TwoOfFour)
            return (encoding, n / 2, EncodeTwoOfFour(data, n, elementSize, isFloat));

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

    /// <summary>Per group its pair (the nonzero positions, filled up with the first zero positions; a zero is stored
    /// as +0), then the pairs' values.</summary>
    private static byte[] EncodeTwoOfFour(ReadOnlySpan<byte> data, long n, int elementSize, bool isFloat)
    {
        long groups = n / 4;
        int patternBytes = (int)PatternBytes(n);
        var block = new byte[BlockLength(SparseEncoding.TwoOfFour, n, n / 2, elementSize)];
        int value = patternBytes;
        Span<bool> nonzero = stackalloc bool[4];
        for (long g = 0; g < groups; g++)
        {
            for (int j = 0; j < 4; j++) nonzero[j] = IsNonzero(data, 4 * g + j, elementSize, isFloat);
            int code = 0;
            for (int c = 0; c < Pairs.Length; c++)
            {
                var (a, b) = Pairs[c];
                // The first pair (in code order) that holds every nonzero of the group: with fewer than 2 nonzeros that
                // fills up with the lowest zero positions.
                bool covers = true;
                for (int j = 0; j < 4; j++) covers &= !nonzero[j] || j == a || j == b;
                if (covers) { code = c; break; }
            }
            block[g / 3] += (byte)(code * (g % 3 == 0 ? 1 : g % 3 == 1 ? 6 : 36));
            foreach (int j in new[] { Pairs[code].First, Pairs[code].Second })
            {
                if (nonzero[j]) data.Slice((int)((4 * g + j) * elementSize), elementSize).CopyTo(block.AsSpan(value));
                value += elementSize;
            }
        }
        return block;
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
        if (encoding == SparseEncoding.TwoOfFour && (elements % 4 != 0 || stored != elements / 2))
            throw new InvalidDataException(elements % 4 != 0
                ? $"a 2:4 block needs whole groups of 4 elements, not {elements}"
                : $"a 2:4 block of {elements} elements stores {elements / 2} values, not {stored}");
        if (encoding == SparseEncoding.Indices && elements > uint.MaxValue)
            throw new InvalidDataException($"{elements} elements are too many for u32 indices");
        long expected = BlockLength(encoding, elements, stored, elementSize);
        if (block.Length != expected)
            throw new InvalidDataException($"its block is {block.Length} bytes but a {Name(encoding)} block of {stored} values needs {expected}");
        if (encoding == SparseEncoding.Dense)
            return block.ToArray();
        if (encoding == SparseEncoding.TwoOfFour)
            return DecodeTwoOfFour(block, elements, elementSize);

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

    private static byte[] DecodeTwoOfFour(ReadOnlySpan<byte> block, long elements, int elementSize)
    {
        long groups = elements / 4;
        int patternBytes = (int)PatternBytes(elements);
        for (int k = 0; k < patternBytes; k++)
        {
            long inByte = Math.Min(3, groups - 3L * k);
            int limit = inByte == 3 ? 216 : inByte == 2 ? 36 : 6;
            if (block[k] >= limit)
                throw new InvalidDataException(inByte == 3
                    ? $"its pattern byte {k} is {block[k]}, not a code of 3 groups (0..215)"
                    : $"its last pattern byte {k} is {block[k]}, which codes groups past the last one (0..{limit - 1} for {inByte})");
        }
        var data = new byte[checked(elements * elementSize)];
        int value = patternBytes;
        for (long g = 0; g < groups; g++)
        {
            int code = block[(int)(g / 3)] / (g % 3 == 0 ? 1 : g % 3 == 1 ? 6 : 36) % 6;
            foreach (int j in new[] { Pairs[code].First, Pairs[code].Second })
            {
                block.Slice(value, elementSize).CopyTo(data.AsSpan((int)((4 * g + j) * elementSize)));
                value += elementSize;
            }
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
