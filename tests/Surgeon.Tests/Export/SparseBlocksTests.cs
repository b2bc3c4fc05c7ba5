using Surgeon.Export.Sparse;

namespace Surgeon.Tests.Export;

/// <summary>
/// The per-tensor encodings of the sparse file against bytes written out by hand: which encoding wins for a known
/// tensor, and the exact block it produces; decoding gives back the same bytes; a block that contradicts its header is
/// refused with the reason.
/// </summary>
public class SparseBlocksTests
{
    // float32 little-endian: 1.0f = 0x3F800000, -2.0f = 0xC0000000, -0.0f = 0x80000000.
    private static readonly byte[] One = [0x00, 0x00, 0x80, 0x3F], MinusTwo = [0x00, 0x00, 0x00, 0xC0], MinusZero = [0x00, 0x00, 0x00, 0x80];

    private static byte[] Floats(int n, params (int Index, byte[] Bytes)[] nonzeros)
    {
        var data = new byte[n * 4];
        foreach (var (i, b) in nonzeros) b.CopyTo(data, i * 4);
        return data;
    }

    [Fact]
    public void SixteenFloats_TwoNonzeros_TakeTheBitmask()
    {
        // dense 64 bytes, bitmask 2 + 8 = 10, u16 indices 2·2 + 8 = 12: the bitmask is smallest.
        var data = Floats(16, (3, One), (9, MinusTwo));
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);
        Assert.Equal(SparseEncoding.Bitmask, encoding);
        Assert.Equal(2, stored);
        byte[] expected = [0b0000_1000, 0b0000_0010, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0];
        Assert.Equal(expected, block);
        Assert.Equal(data, SparseBlocks.Decode(block, encoding, 16, stored, 4));
    }

    [Fact]
    public void SixtyFourFloats_TwoNonzeros_TakeU16Indices()
    {
        // dense 256 bytes, bitmask 8 + 8 = 16, u16 indices 4 + 8 = 12: the index list is smallest.
        var data = Floats(64, (3, One), (40, MinusTwo));
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);
        Assert.Equal(SparseEncoding.Indices, encoding);
        byte[] expected = [0x03, 0x00, 0x28, 0x00, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0];
        Assert.Equal(expected, block);
        Assert.Equal(data, SparseBlocks.Decode(block, encoding, 64, stored, 4));
    }

    [Fact]
    public void MoreThan65536Elements_TakeU32Indices()
    {
        var data = Floats(70_000, (65_537, One));
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);
        Assert.Equal(SparseEncoding.Indices, encoding);
        Assert.Equal(1, stored);
        byte[] expected = [0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x80, 0x3F];
        Assert.Equal(expected, block);
        Assert.Equal(data, SparseBlocks.Decode(block, encoding, 70_000, 1, 4));
    }

    [Fact]
    public void ADenseTensor_StaysDense()
    {
        // Four nonzeros: dense 16 bytes, bitmask 1 + 16 = 17, indices 8 + 16 = 24.
        var data = Floats(4, (0, One), (1, MinusTwo), (2, One), (3, MinusTwo));
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);
        Assert.Equal(SparseEncoding.Dense, encoding);
        Assert.Equal(4, stored);
        Assert.Equal(data, block);
    }

    [Fact]
    public void MinusZero_IsAZero_AndComesBackAsPlusZero()
    {
        // Masking a negative weight leaves -0.0: it must not be stored. One nonzero (1.0 at 5): bitmask 2 + 4 = 6 ties
        // with indices 2 + 4 = 6, and the bitmask wins the tie.
        var data = Floats(16, (0, MinusZero), (5, One));
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);
        Assert.Equal(SparseEncoding.Bitmask, encoding);
        Assert.Equal(1, stored);
        byte[] expected = [0b0010_0000, 0x00, 0x00, 0x00, 0x80, 0x3F];
        Assert.Equal(expected, block);
        Assert.Equal(Floats(16, (5, One)), SparseBlocks.Decode(block, encoding, 16, 1, 4));
    }

    [Fact]
    public void TheTopBitAlone_IsANonzeroInteger_AndNaNPayloadsSurvive()
    {
        // As an int32, 00 00 00 80 is int.MinValue, not a zero; a NaN with payload 1 comes back bit for bit.
        var ints = Floats(16, (2, MinusZero));
        var (encoding, stored, block) = SparseBlocks.Encode(ints, 4, isFloat: false);
        Assert.Equal(1, stored);
        Assert.Equal(ints, SparseBlocks.Decode(block, encoding, 16, stored, 4));
        var nan = Floats(16, (7, [0x01, 0x00, 0xC0, 0x7F]));
        (encoding, stored, block) = SparseBlocks.Encode(nan, 4, isFloat: true);
        Assert.Equal(nan, SparseBlocks.Decode(block, encoding, 16, stored, 4));
    }

    [Fact]
    public void AZeroInt64Scalar_TakesNoBytes()
    {
        // BatchNorm's num_batches_tracked of a model never trained in train mode: no nonzero, an empty index list.
        var (encoding, stored, block) = SparseBlocks.Encode(new byte[8], 8, isFloat: false);
        Assert.Equal(SparseEncoding.Indices, encoding);
        Assert.Equal(0, stored);
        Assert.Empty(block);
        Assert.Equal(new byte[8], SparseBlocks.Decode(block, encoding, 1, 0, 8));
    }

    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(7, 0.5)]
    [InlineData(1000, 0.01)]
    [InlineData(1000, 0.06)]
    [InlineData(1000, 0.07)]
    [InlineData(1000, 0.5)]
    [InlineData(1000, 0.95)]
    [InlineData(100_000, 0.02)]
    [InlineData(100_000, 0.9)]
    public void RandomTensors_RoundTrip_InTheSmallestEncoding(int n, double density)
    {
        var rng = new Random(n + (int)(density * 1000));
        var data = new byte[n * 4];
        int nonzeros = 0;
        for (int i = 0; i < n; i++)
            if (rng.NextDouble() < density)
            {
                BitConverter.TryWriteBytes(data.AsSpan(i * 4), (float)(rng.NextDouble() + 0.5));
                nonzeros++;
            }
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);

        // The sizes, counted independently: every element; a bit per element plus values; an index plus a value each.
        long dense = 4L * n, bitmask = (n + 7) / 8 + 4L * nonzeros, indices = (n <= 65_536 ? 6L : 8L) * nonzeros;
        Assert.Equal(nonzeros, encoding == SparseEncoding.Dense ? nonzeros : stored);
        Assert.Equal(Math.Min(dense, Math.Min(bitmask, indices)), block.LongLength);
        Assert.Equal(data, SparseBlocks.Decode(block, encoding, n, stored, 4));
    }

    public static TheoryData<string, byte[], int, long, long, string> BadBlocks => new()
    {
        { "too short", [0x08, 0x02, 0, 0, 0x80, 0x3F], (int)SparseEncoding.Bitmask, 16, 2, "needs 10" },
        { "bit count", [0x08, 0x03, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0], (int)SparseEncoding.Bitmask, 16, 2, "3 bits set" },
        { "padding bits", [0x08, 0x20, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0], (int)SparseEncoding.Bitmask, 12, 2, "past the last element" },
        { "decreasing", [0x05, 0x00, 0x03, 0x00, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0], (int)SparseEncoding.Indices, 64, 2, "indices must increase" },
        { "repeated", [0x05, 0x00, 0x05, 0x00, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0], (int)SparseEncoding.Indices, 64, 2, "indices must increase" },
        { "out of range", [0x03, 0x00, 0x40, 0x00, 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0], (int)SparseEncoding.Indices, 64, 2, "past the last element (63)" },
        { "too many stored", [], (int)SparseEncoding.Indices, 4, 5, "5 stored values for 4 elements" },
        { "dense not full", [0, 0, 0x80, 0x3F], (int)SparseEncoding.Dense, 2, 1, "must store 2 values" },
    };

    [Theory]
    [MemberData(nameof(BadBlocks))]
    public void ABlockThatContradictsItsHeader_IsRefusedWithTheReason(string what, byte[] block, int encoding, long elements, long stored, string phrase)
    {
        var e = Assert.Throws<InvalidDataException>(() => SparseBlocks.Decode(block, (SparseEncoding)encoding, elements, stored, 4));
        Assert.True(e.Message.Contains(phrase, StringComparison.Ordinal), $"{what}: {e.Message}");
    }

    [Fact]
    public void ATwoOfFourTensor_TakesThe2To4Block_WrittenOutByHand()
    {
        // 16 floats, groups {1@0, -2@3}, {-0.0 only}, {}, {1@1, 1@2}: a bitmask would take 2 + 5·4 = 22 bytes (the −0.0
        // is a zero), the 2:4 block 2 + 8·4 = 34, so the bitmask wins here; at 48 elements with 2 nonzeros in every
        // group the 2:4 block wins (below). Pairs: (0,3) = code 2, the first zero pair (0,1) = 0, (0,1) = 0, (1,2) = 3.
        var data = Floats(16, (0, One), (3, MinusTwo), (5, MinusZero), (13, One), (14, One));
        var block = SparseBlocks.Encode(data, 4, isFloat: true);
        Assert.Equal(SparseEncoding.Bitmask, block.Encoding);

        var full = new byte[48 * 4];
        var expectedCodes = new int[12];
        var rng = new Random(4);
        for (int g = 0; g < 12; g++)
        {
            int code = rng.Next(6);
            expectedCodes[g] = code;
            var (a, b) = SparseBlocks.Pairs[code];
            One.CopyTo(full, (4 * g + a) * 4);
            MinusTwo.CopyTo(full, (4 * g + b) * 4);
        }
        var (encoding, stored, bytes) = SparseBlocks.Encode(full, 4, isFloat: true);
        Assert.Equal(SparseEncoding.TwoOfFour, encoding);
        Assert.Equal(24, stored);
        // bitmask 6 + 96 = 102, indices 24·6 = 144, 2:4: 4 pattern bytes + 96 = 100
        Assert.Equal(100, bytes.Length);
        for (int k = 0; k < 4; k++)
            Assert.Equal(expectedCodes[3 * k] + 6 * expectedCodes[3 * k + 1] + 36 * expectedCodes[3 * k + 2], bytes[k]);
        for (int g = 0; g < 12; g++)
        {
            Assert.Equal(One, bytes.AsSpan(4 + 8 * g, 4).ToArray());
            Assert.Equal(MinusTwo, bytes.AsSpan(8 + 8 * g, 4).ToArray());
        }
        Assert.Equal(full, SparseBlocks.Decode(bytes, encoding, 48, stored, 4));
    }

    [Theory]
    [InlineData(4, 1.0)]
    [InlineData(400, 1.0)]
    [InlineData(4000, 0.9)]
    [InlineData(40_000, 1.0)]
    [InlineData(40_004, 0.97)]
    public void RandomTwoOfFourTensors_RoundTrip_AndTakeTheSmallestBlock(int n, double keepTwo)
    {
        // Every group keeps 2 random positions (with probability keepTwo, else 1 or 0); some kept values are −0.0.
        var rng = new Random(n);
        var data = new byte[n * 4];
        var expected = new byte[n * 4];
        int nonzeros = 0;
        for (int g = 0; g < n / 4; g++)
        {
            var (a, b) = SparseBlocks.Pairs[rng.Next(6)];
            int keep = rng.NextDouble() < keepTwo ? 2 : rng.Next(2);
            foreach (int j in new[] { a, b }.Take(keep))
            {
                float v = rng.Next(10) == 0 ? -0.0f : (float)(rng.NextDouble() + 0.5);
                BitConverter.TryWriteBytes(data.AsSpan((4 * g + j) * 4), v);
                if (v != 0) { BitConverter.TryWriteBytes(expected.AsSpan((4 * g + j) * 4), v); nonzeros++; }
            }
        }
        var (encoding, stored, block) = SparseBlocks.Encode(data, 4, isFloat: true);
        long dense = 4L * n, bitmask = (n + 7) / 8 + 4L * nonzeros, indices = (n <= 65_536 ? 6L : 8L) * nonzeros;
        long pairs = (n / 4 + 2) / 3 + 4L * (n / 2);
        Assert.Equal(Math.Min(Math.Min(dense, bitmask), Math.Min(indices, pairs)), block.LongLength);
        if (pairs < Math.Min(Math.Min(dense, bitmask), indices)) Assert.Equal(SparseEncoding.TwoOfFour, encoding);
        Assert.Equal(expected, SparseBlocks.Decode(block, encoding, n, stored, 4));
    }

    [Fact]
    public void AGroupWithThreeNonzeros_NeverTakesThe2To4Block()
    {
        var data = new byte[400 * 4];
        for (int g = 0; g < 100; g++)
        {
            One.CopyTo(data, (4 * g) * 4);
            One.CopyTo(data, (4 * g + 2) * 4);
        }
        Assert.Equal(SparseEncoding.TwoOfFour, SparseBlocks.Encode(data, 4, isFloat: true).Encoding);
        One.CopyTo(data, (4 * 57 + 1) * 4);
        Assert.NotEqual(SparseEncoding.TwoOfFour, SparseBlocks.Encode(data, 4, isFloat: true).Encoding);
    }

    public static TheoryData<string, byte[], long, long, string> BadTwoOfFourBlocks => new()
    {
        { "code past 215", [216, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 12, 6, "not a code of 3 groups" },
        { "stray last byte", [0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 16, 8, "past the last one" },
        { "not whole groups", [0, 0, 0, 0, 0, 0, 0, 0, 0], 6, 3, "whole groups of 4" },
        { "wrong stored", [0, 0, 0, 0, 0], 4, 1, "stores 2 values, not 1" },
        { "too short", [0, 0, 0, 0, 0], 4, 2, "needs 9" },
    };

    [Theory]
    [MemberData(nameof(BadTwoOfFourBlocks))]
    public void A2To4BlockThatContradictsItsHeader_IsRefusedWithTheReason(string what, byte[] block, long elements, long stored, string phrase)
    {
        var e = Assert.Throws<InvalidDataException>(() => SparseBlocks.Decode(block, SparseEncoding.TwoOfFour, elements, stored, 4));
        Assert.True(e.Message.Contains(phrase, StringComparison.Ordinal), $"{what}: {e.Message}");
    }
}
