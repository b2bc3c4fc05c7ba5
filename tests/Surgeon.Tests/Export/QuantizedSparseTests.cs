using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Surgeon.Compression;
using Surgeon.Export;
using Surgeon.Export.Sparse;
using Surgeon.Models;
using Surgeon.Quantization;
using Surgeon.Tests.Models;
using Surgeon.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Quantised tensors in the sparse file (version 2): the packing and a block written out byte by byte by hand, every
/// registry model's quantised state read back bit for bit with its grids and with block sizes counted independently,
/// and tensors off their grid, contradicting blocks and old-version files with quantised entries refused.
/// </summary>
public class QuantizedSparseTests(ITestOutputHelper output)
{
    private static readonly CheckpointInfo Info = new() { Architecture = "mlpnet", InputShape = [1, 2, 2], NumClasses = 2, Width = 0.05, Dataset = "random" };

    [Fact]
    public void Packing_IsLeastSignificantBitFirst()
    {
        // 3-bit codes 5 (101), 0, 7 (111), 2 (010): stream bits 1,0,1 | 0,0,0 | 1,1,1 | 0,1,0 → bytes 11000101, 0000_0101.
        byte[] packed = CodePacking.Pack([5, 0, 7, 2], 3);
        Assert.Equal(new byte[] { 0xC5, 0x05 }, packed);
        Assert.Equal(new byte[] { 5, 0, 7, 2 }, CodePacking.Unpack(packed, 4, 3));
        Assert.Throws<InvalidDataException>(() => CodePacking.Unpack([0xC5, 0x15], 4, 3)); // a bit past the last code
        for (int bits = 2; bits <= 8; bits++)
        {
            var codes = Enumerable.Range(0, 37).Select(i => (byte)(i * 7 % (1 << bits))).ToArray();
            Assert.Equal(codes, CodePacking.Unpack(CodePacking.Pack(codes, bits), codes.Length, bits));
            Assert.Equal((37 * bits + 7) / 8, CodePacking.Pack(codes, bits).Length);
        }
    }

    // A 2×4 weight on a 4-bit symmetric per-channel grid with scales 0.5 and 0.25: codes [2, 0, −1, 0] and [0, 0, 0, 1].
    private static readonly StateTensor Weight = Floats("fc.weight", [2, 4], [1f, 0f, -0.5f, -0f, 0f, 0f, 0f, 0.25f]);
    private static readonly TensorQuantization Grid = new(4, true, 0, [0.5, 0.25], [0, 0]);

    [Fact]
    public void QuantisedBlock_ByteByByte()
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight], new Dictionary<string, TensorQuantization> { ["fc.weight"] = Grid });
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        var entry = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 20, headerLength))!["tensors"]![0]!;
        Assert.Equal("""{"name":"fc.weight","dtype":"F32","shape":[2,4],"encoding":"bitmask","stored":3,"offset":0,"length":11,"quantization":{"bits":4,"symmetric":true,"axis":0}}""",
            entry.ToJsonString());
        // Scales 0.5 and 0.25 as float32; the mask of elements 0, 2 and 7 (0x85); codes 2, −1, 1 stored as u = q + 8
        // (10, 7, 9) packed at 4 bits: 0x7A, 0x09. Dense would be 8 + 4 bytes, u16 indices 8 + 6 + 2.
        byte[] block = [0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x80, 0x3E, 0x85, 0x7A, 0x09];
        Assert.Equal(block, bytes[(20 + headerLength)..^32]);

        var back = SparseFile.Parse(bytes, "q.sparse");
        Assert.Equal(PlusZeros(Weight.Data), back.Tensors[0].Data);
        var grid = back.Quantizations["fc.weight"];
        Assert.Equal((4, true, (int?)0), (grid.Bits, grid.Symmetric, grid.Axis));
        Assert.Equal(Grid.Scales, grid.Scales);
        Assert.Equal(Grid.ZeroPoints, grid.ZeroPoints);
    }

    [Fact]
    public void AsymmetricPerTensor_StoresItsZeroPoint_AndDecodesZerosAsZero()
    {
        // 3-bit asymmetric over [−0.5, 3]: scale 0.5, zero point −3 (so a zero is code −3, u = 1). 5 of 6 nonzero: dense.
        var t = Floats("w", [6], [-0.5f, 0f, 1f, 3f, 2.5f, 0.5f]);
        var q = new TensorQuantization(3, false, null, [0.5], [-3]);
        var (bytes, entries) = SparseFile.Build(Info, [t], new Dictionary<string, TensorQuantization> { ["w"] = q });
        Assert.Equal("dense", entries[0].Encoding);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        // Scale, zero point −3 (0xFD), then codes q = −4, −3, −1, 3, 2, −2 as u = q + 4 = 0, 1, 3, 7, 6, 2 packed at 3
        // bits, stream bit t in bit t mod 8 of byte ⌊t/8⌋: stream 000 100 110 111 011 010 (each code's bits low first),
        // so byte 0 = bits 3, 6, 7 = 0xC8, byte 1 = bits 9–11, 13, 14 → 0b01101110 = 0x6E, byte 2 = bit 16 = 0x01.
        Assert.Equal(new byte[] { 0xC8, 0x6E, 0x01 }, CodePacking.Pack([0, 1, 3, 7, 6, 2], 3));
        Assert.Equal([0x00, 0x00, 0x00, 0x3F, 0xFD, 0xC8, 0x6E, 0x01], bytes[(20 + headerLength)..^32]);
        Assert.Equal(t.Data, SparseFile.Parse(bytes, "q.sparse").Tensors[0].Data);
    }

    public static TheoryData<string, int, int, double, int, bool, bool> Models()
    {
        var data = new TheoryData<string, int, int, double, int, bool, bool>
        {
            { "mlpnet", 1, 28, 1.0, 4, true, false },
            { "mlpnet", 1, 28, 1.0, 3, false, true },
            { "vgg13", 3, 32, 0.125, 8, true, true },
            { "mobilenet-v1", 1, 28, 0.125, 6, false, false },
            { "resnet20", 3, 32, 0.25, 2, true, true },
            { "resnet56", 1, 28, 0.25, 5, false, true },
        };
        return data;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void QuantisedRegistryModel_RoundTrips_WithBlocksOfTheSizeCountedByHand(string name, int channels, int side, double width, int bits, bool symmetric, bool perChannel)
    {
        var spec = new ModelSpec(name, [channels, side, side], 10, width);
        manual_seed(3);
        using var model = ModelRegistry.Create(spec);
        ConvModels.RandomiseNorms(model);
        using (no_grad())
            foreach (var (_, w) in WeightedLayers.Weights(model))
                w.mul_(rand_like(w).gt(tensor(0.6f))); // 60 % pruned
        var grids = WeightQuantizer.QuantizeWeights(model, new WeightQuantizationSettings { Bits = bits, Symmetric = symmetric, PerChannel = perChannel });
        var state = ModelState.Read(model);
        var info = Info with { Architecture = name, InputShape = spec.InputShape, NumClasses = 10, Width = width };
        var (bytes, entries) = SparseFile.Build(info, state, grids);
        var (plain, _) = SparseFile.Build(info, state);

        foreach (var e in entries.Where(e => e.Quantization is not null))
        {
            // Independently: the nonzeros of the float values, and the cheapest of the three layouts.
            float[] v = Values(state.Single(t => t.Name == e.Name).Data);
            long n = v.Length, k = v.Count(x => x != 0);
            long g = grids[e.Name].Scales.Length * (symmetric ? 4 : 5);
            long codes(long count) => (count * bits + 7) / 8;
            long best = new[] { g + codes(n), g + (n + 7) / 8 + codes(k), g + k * (n <= 65536 ? 2 : 4) + codes(k) }.Min();
            Assert.Equal(best, e.Length);
        }
        var back = SparseFile.Parse(bytes, "q.sparse");
        foreach (var (a, b) in state.Zip(back.Tensors))
            Assert.Equal(a.DType == "F32" ? PlusZeros(a.Data) : a.Data, b.Data);
        Assert.Equal(grids.Keys.Order(), back.Quantizations.Keys.Order());
        foreach (var (key, q) in grids)
        {
            Assert.Equal(q.Scales, back.Quantizations[key].Scales);
            Assert.Equal(q.ZeroPoints, back.Quantizations[key].ZeroPoints);
        }
        output.WriteLine($"{name} {bits}-bit: quantised sparse {bytes.Length:N0} bytes, float sparse {plain.Length:N0}");
        Assert.True(bytes.Length < plain.Length);
    }

    [Fact]
    public void ATensorOffItsGrid_IsRefusedInOneLine()
    {
        var t = Floats("fc.weight", [2, 4], [1f, 0f, -0.5f, 0f, 0f, 0f, 0f, 0.3f]);
        var e = Assert.Throws<SurgeonException>(() => SparseFile.Build(Info, [t], new Dictionary<string, TensorQuantization> { ["fc.weight"] = Grid }));
        Assert.Equal("tensor fc.weight is not on its 4-bit grid: element 7 is 0.3, the nearest grid value 0.25; quantise the weights with this grid before writing them", e.Message);
        e = Assert.Throws<SurgeonException>(() => SparseFile.Build(Info, [Weight], new Dictionary<string, TensorQuantization> { ["fc.bias"] = Grid }));
        Assert.Equal("the model's state has no tensor fc.bias to store quantised", e.Message);
        e = Assert.Throws<SurgeonException>(() => SparseFile.Build(Info, [Weight], new Dictionary<string, TensorQuantization> { ["fc.weight"] = Grid with { Scales = [0.5, 0.1] } }));
        Assert.Equal("tensor fc.weight: its scale 0.1 is not a float32 value; the sparse file stores float32 scales", e.Message);
    }

    public static TheoryData<string, string> BadBlocks => new()
    {
        { "zero-scale", "its quantisation: every scale must be positive and finite, got 0" },
        { "stray-bit", "its packed codes set bits past the last code" },
        { "bits", "its quantisation has 9 bits (2..8 are possible)" },
        { "length", "its block is 11 bytes but a quantised bitmask block of 3 codes needs 13" },
        { "version-1", "tensor fc.weight is quantised, which a version 1 file cannot be" },
    };

    /// <summary>Quantised files edited by hand and given a valid checksum, so the checks behind it are the ones exercised.</summary>
    [Theory]
    [MemberData(nameof(BadBlocks))]
    public void AQuantisedBlockThatContradictsItsHeader_IsRefusedWithTheReason(string edit, string phrase)
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight], new Dictionary<string, TensorQuantization> { ["fc.weight"] = Grid });
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 20, headerLength))!.AsObject();
        byte[] data = bytes[(20 + headerLength)..^32];
        uint version = 2;
        var entry = header["tensors"]![0]!.AsObject();
        switch (edit)
        {
            case "zero-scale": data[0] = data[1] = data[2] = data[3] = 0; break;
            case "stray-bit": data[^1] |= 0x80; break;
            case "bits": entry["quantization"]!["bits"] = 9; break;
            case "length": entry["quantization"]!["symmetric"] = false; break; // two zero points more than the block has
            case "version-1": version = 1; break;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var body = new byte[20 + json.Length + data.Length];
        "SURGSPRS"u8.CopyTo(body);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), version);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(12), (ulong)json.Length);
        json.CopyTo(body, 20);
        data.CopyTo(body, 20 + json.Length);
        var e = Assert.Throws<SurgeonException>(() => SparseFile.Parse([.. body, .. SHA256.HashData(body)], "q.sparse"));
        Assert.Contains(phrase, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void EveryTruncationAndBitFlip_OfAQuantisedFile_IsRefused()
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight], new Dictionary<string, TensorQuantization> { ["fc.weight"] = Grid });
        for (int length = 0; length < bytes.Length; length++)
            Assert.Throws<SurgeonException>(() => SparseFile.Parse(bytes[..length], "q.sparse"));
        for (int bit = 0; bit < bytes.Length * 8; bit++)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<SurgeonException>(() => SparseFile.Parse(flipped, "q.sparse"));
        }
    }

    private static StateTensor Floats(string name, long[] shape, float[] values)
    {
        var data = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), values[i]);
        return new StateTensor(name, "F32", shape, data);
    }

    private static float[] Values(byte[] data) =>
        Enumerable.Range(0, data.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(i * 4))).ToArray();

    private static byte[] PlusZeros(byte[] floats)
    {
        var copy = (byte[])floats.Clone();
        for (int i = 0; i < copy.Length; i += 4)
            if (BitConverter.ToSingle(copy, i) == 0f) copy.AsSpan(i, 4).Clear();
        return copy;
    }
}
