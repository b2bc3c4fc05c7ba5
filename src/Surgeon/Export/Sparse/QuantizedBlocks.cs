using System.Buffers.Binary;
using Surgeon.Compression;

namespace Surgeon.Export.Sparse;

/// <summary>How a quantised tensor's grid is described in the sparse header ("quantization"); its scales and zero points are in its block.</summary>
internal sealed record SparseQuantization(int Bits, bool Symmetric, int? Axis = null);

/// <summary>
/// The block of a float32 tensor stored as b-bit codes on its grid (<see cref="TensorQuantization"/>): G float32 scales
/// (G = 1, or the size of the grid's axis), G int8 zero points when asymmetric, then as for a float tensor a dense,
/// bitmask or indices layout whose values are the codes packed at b bits (<see cref="CodePacking"/>). An element is
/// stored unless its code is its zero point (its value 0). Decoding gives the values (q − zero point) · scale in
/// float32, so a tensor written from grid values comes back bit for bit (−0.0 as +0.0).
/// </summary>
internal static class QuantizedBlocks
{
    public static long BlockLength(SparseEncoding encoding, long elements, long stored, SparseQuantization grid, int grids) =>
        checked(GridBytes(grid, grids) + encoding switch
        {
            SparseEncoding.Dense => CodePacking.Bytes(elements, grid.Bits),
            SparseEncoding.Bitmask => (elements + 7) / 8 + CodePacking.Bytes(stored, grid.Bits),
            SparseEncoding.Indices => stored * SparseBlocks.IndexBytes(elements) + CodePacking.Bytes(stored, grid.Bits),
            _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
        });

    /// <summary>
    /// The block of float32 <paramref name="data"/> on grid <paramref name="q"/>: throws a <see cref="SurgeonException"/>
    /// when a value is not a grid value (the tensor was not quantised with this grid).
    /// </summary>
    public static (SparseEncoding Encoding, long Stored, byte[] Block) Encode(string name, long[] shape, ReadOnlySpan<byte> data, TensorQuantization q)
    {
        q.Validate($"tensor {name}");
        int grids = Grids(name, shape, q);
        foreach (double s in q.Scales)
            if ((float)s != s)
                throw new SurgeonException($"tensor {name}: its scale {s} is not a float32 value; the sparse file stores float32 scales");
        long n = data.Length / sizeof(float);
        long inner = Inner(shape, q.Axis);
        var codes = new byte[n];
        long nonzeros = 0;
        for (long i = 0; i < n; i++)
        {
            int c = q.Axis is null ? 0 : (int)(i / inner % grids);
            float scale = (float)q.Scales[c];
            long zero = q.ZeroPoints[c];
            float v = BinaryPrimitives.ReadSingleLittleEndian(data[(int)(i * 4)..]);
            long code = Math.Clamp((long)MathF.Round(v / scale, MidpointRounding.ToEven) + zero, q.QMin, q.QMax);
            float back = (code - zero) * scale;
            if (back != v || float.IsNaN(v)) // 0 == −0.0: a pruned −0.0 is stored as the zero point
                throw new SurgeonException(
                    $"tensor {name} is not on its {q.Bits}-bit grid: element {i} is {v:R}, the nearest grid value {back:R}; quantise the weights with this grid before writing them");
            codes[i] = (byte)(code - q.QMin);
            if (code != zero) nonzeros++;
        }
        var header = new SparseQuantization(q.Bits, q.Symmetric, q.Axis);
        var encoding = Choose(n, nonzeros, header, grids);
        var block = new byte[BlockLength(encoding, n, encoding == SparseEncoding.Dense ? n : nonzeros, header, grids)];
        int at = WriteGrid(block, q);
        if (encoding == SparseEncoding.Dense)
        {
            CodePacking.Pack(codes, q.Bits).CopyTo(block, at);
            return (encoding, n, block);
        }
        var kept = new byte[nonzeros];
        int indexBytes = SparseBlocks.IndexBytes(n), k = 0;
        for (long i = 0; i < n; i++)
        {
            int c = q.Axis is null ? 0 : (int)(i / inner % grids);
            if (codes[i] == q.ZeroPoints[c] - q.QMin) continue;
            if (encoding == SparseEncoding.Bitmask)
                block[at + i / 8] |= (byte)(1 << (int)(i % 8));
            else if (indexBytes == 2)
                BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(at + k * 2), (ushort)i);
            else
                BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(at + k * 4), (uint)i);
            kept[k++] = codes[i];
        }
        at += encoding == SparseEncoding.Bitmask ? (int)((n + 7) / 8) : (int)(nonzeros * indexBytes);
        CodePacking.Pack(kept, q.Bits).CopyTo(block, at);
        return (encoding, nonzeros, block);
    }

    /// <summary>
    /// The float32 bytes and the grid of a quantised block. A block that contradicts its header (its length, an invalid
    /// scale or zero point, the mask's bit count, indices out of order, stray bits) throws <see cref="InvalidDataException"/>.
    /// </summary>
    public static (byte[] Data, TensorQuantization Grid) Decode(ReadOnlySpan<byte> block, SparseEncoding encoding, long[] shape, long stored, SparseQuantization header)
    {
        if (header.Bits is < TensorQuantization.MinBits or > TensorQuantization.MaxBits)
            throw new InvalidDataException($"its quantisation has {header.Bits} bits (2..8 are possible)");
        if (header.Axis is int a && (a < 0 || a >= shape.Length))
            throw new InvalidDataException($"its quantisation axis {a} is outside its {shape.Length} dimensions");
        long n = shape.Aggregate(1L, (x, y) => checked(x * y));
        int grids = header.Axis is int axis ? checked((int)shape[axis]) : 1;
        if (stored < 0 || stored > n || (encoding == SparseEncoding.Dense && stored != n))
            throw new InvalidDataException($"it claims {stored} stored codes for {n} elements in a {SparseBlocks.Name(encoding)} block");
        long expected = BlockLength(encoding, n, stored, header, grids);
        if (block.Length != expected)
            throw new InvalidDataException($"its block is {block.Length} bytes but a quantised {SparseBlocks.Name(encoding)} block of {stored} codes needs {expected}");

        var scales = new double[grids];
        var zeros = new long[grids];
        for (int c = 0; c < grids; c++)
            scales[c] = BinaryPrimitives.ReadSingleLittleEndian(block[(c * 4)..]);
        int at = grids * 4;
        if (!header.Symmetric)
        {
            for (int c = 0; c < grids; c++)
                zeros[c] = (sbyte)block[at + c];
            at += grids;
        }
        var q = new TensorQuantization(header.Bits, header.Symmetric, header.Axis, scales, zeros);
        try
        {
            q.Validate("its quantisation");
        }
        catch (SurgeonException e)
        {
            throw new InvalidDataException(e.Message);
        }

        // Start with every element at its zero point, then place the stored codes.
        long inner = Inner(shape, header.Axis);
        var codes = new long[n];
        for (long i = 0; i < n; i++)
            codes[i] = zeros[header.Axis is null ? 0 : (int)(i / inner % grids)];
        var positions = Positions(block[at..], encoding, n, stored, out int headBytes);
        var packed = CodePacking.Unpack(block[(at + headBytes)..], stored, header.Bits);
        for (long k = 0; k < stored; k++)
            codes[positions?[k] ?? k] = packed[k] + q.QMin;

        var data = new byte[checked(n * sizeof(float))];
        for (long i = 0; i < n; i++)
        {
            int c = header.Axis is null ? 0 : (int)(i / inner % grids);
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)(i * 4)), (codes[i] - zeros[c]) * (float)scales[c]);
        }
        return (data, q);
    }

    /// <summary>The stored elements' positions (null for dense: all of them, in order) and the bytes the mask or index list takes.</summary>
    private static long[]? Positions(ReadOnlySpan<byte> rest, SparseEncoding encoding, long n, long stored, out int headBytes)
    {
        if (encoding == SparseEncoding.Dense)
        {
            headBytes = 0;
            return null;
        }
        var positions = new long[stored];
        if (encoding == SparseEncoding.Bitmask)
        {
            headBytes = (int)((n + 7) / 8);
            long k = 0;
            for (long i = 0; i < n; i++)
                if ((rest[(int)(i / 8)] & (1 << (int)(i % 8))) != 0)
                {
                    if (k == stored) throw new InvalidDataException($"its bitmask has more than the {stored} bits set that the header says");
                    positions[k++] = i;
                }
            if (k != stored) throw new InvalidDataException($"its bitmask has {k} bits set but the header says {stored} codes are stored");
            int spare = headBytes * 8 - (int)n;
            if (spare > 0 && (rest[headBytes - 1] >> (8 - spare)) != 0)
                throw new InvalidDataException("its bitmask sets bits past the last element");
            return positions;
        }
        if (n > uint.MaxValue) throw new InvalidDataException($"{n} elements are too many for u32 indices");
        int width = SparseBlocks.IndexBytes(n);
        headBytes = checked((int)(stored * width));
        long previous = -1;
        for (int k = 0; k < stored; k++)
        {
            long i = width == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(rest[(k * 2)..]) : BinaryPrimitives.ReadUInt32LittleEndian(rest[(k * 4)..]);
            if (i <= previous) throw new InvalidDataException($"its index {k} ({i}) does not follow the one before ({previous}): indices must increase");
            if (i >= n) throw new InvalidDataException($"its index {k} ({i}) is past the last element ({n - 1})");
            positions[k] = previous = i;
        }
        return positions;
    }

    private static SparseEncoding Choose(long n, long nonzeros, SparseQuantization grid, int grids)
    {
        long dense = BlockLength(SparseEncoding.Dense, n, n, grid, grids);
        long bitmask = BlockLength(SparseEncoding.Bitmask, n, nonzeros, grid, grids);
        long indices = n > uint.MaxValue ? long.MaxValue : BlockLength(SparseEncoding.Indices, n, nonzeros, grid, grids);
        return dense <= bitmask && dense <= indices ? SparseEncoding.Dense
            : bitmask <= indices ? SparseEncoding.Bitmask
            : SparseEncoding.Indices;
    }

    private static int WriteGrid(byte[] block, TensorQuantization q)
    {
        int at = 0;
        foreach (double s in q.Scales)
        {
            BinaryPrimitives.WriteSingleLittleEndian(block.AsSpan(at), (float)s);
            at += 4;
        }
        if (!q.Symmetric)
            foreach (long z in q.ZeroPoints)
                block[at++] = (byte)(sbyte)z;
        return at;
    }

    private static long GridBytes(SparseQuantization grid, int grids) => grids * (grid.Symmetric ? 4L : 5L);

    private static int Grids(string name, long[] shape, TensorQuantization q)
    {
        if (q.Axis is not int axis) return 1;
        if (axis < 0 || axis >= shape.Length || shape[axis] != q.Scales.Length)
            throw new SurgeonException($"tensor {name} of shape [{string.Join(", ", shape)}] has {q.Scales.Length} scales along axis {axis}");
        return q.Scales.Length;
    }

    /// <summary>The elements per step along the grid's axis (the product of the later dimensions).</summary>
    private static long Inner(long[] shape, int? axis) =>
        axis is int a ? shape.Skip(a + 1).Aggregate(1L, (x, y) => x * y) : 1;
}
