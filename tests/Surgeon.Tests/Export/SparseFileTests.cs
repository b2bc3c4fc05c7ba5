using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Surgeon.Export;
using Surgeon.Export.Sparse;
using Surgeon.Training;

namespace Surgeon.Tests.Export;

/// <summary>
/// The sparse file as a whole: its layout read back by hand (magic, version, header length, JSON table, blocks, SHA-256
/// of the rest); every truncation and every single-bit flip refused as corrupt or truncated; and hand-made files with a
/// valid checksum but a table that contradicts the data refused with the reason.
/// </summary>
public class SparseFileTests
{
    private static readonly CheckpointInfo Info = new() { Architecture = "mlpnet", InputShape = [1, 2, 2], NumClasses = 2, Width = 0.05, Dataset = "random" };

    // Two tensors written out by hand: a 16-float weight with 1.0 at 3 and -2.0 at 9 (bitmask), and a zero int64 scalar
    // (an empty index list).
    private static readonly StateTensor Weight = new("fc.weight", "F32", [4, 4],
        [.. new byte[12], 0x00, 0x00, 0x80, 0x3F, .. new byte[20], 0x00, 0x00, 0x00, 0xC0, .. new byte[24]]);
    private static readonly StateTensor Count = new("bn.num_batches_tracked", "I64", [], new byte[8]);

    [Fact]
    public void Layout_IsMagicVersionHeaderBlocksAndChecksum()
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight, Count]);

        Assert.Equal("SURGSPRS"u8.ToArray(), bytes[..8]);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 20, headerLength))!.AsObject();
        Assert.Equal("mlpnet", (string?)header["model"]!["architecture"]);
        Assert.Equal(0.05, (double)header["model"]!["width"]!);
        var tensors = header["tensors"]!.AsArray();
        Assert.Equal(2, tensors.Count);
        Assert.Equal("""{"name":"fc.weight","dtype":"F32","shape":[4,4],"encoding":"bitmask","stored":2,"offset":0,"length":10}""", tensors[0]!.ToJsonString());
        Assert.Equal("""{"name":"bn.num_batches_tracked","dtype":"I64","shape":[],"encoding":"indices","stored":0,"offset":10,"length":0}""", tensors[1]!.ToJsonString());

        byte[] blocks = [0x08, 0x02, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0];
        Assert.Equal(blocks, bytes[(20 + headerLength)..^32]);
        Assert.Equal(SHA256.HashData(bytes.AsSpan(0, bytes.Length - 32)), bytes[^32..]);

        var back = SparseFile.Parse(bytes, "t.sparse");
        Assert.Equal(("mlpnet", 2, 0.05, "random"), (back.Info.Architecture, back.Info.NumClasses, back.Info.Width, back.Info.Dataset));
        Assert.Equal([1, 2, 2], back.Info.InputShape);
        Assert.Equal([Weight.Data, Count.Data], back.Tensors.Select(t => t.Data));
        Assert.Equal([Weight.Shape, Count.Shape], back.Tensors.Select(t => t.Shape));
    }

    [Fact]
    public void EveryTruncation_IsRefused()
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight, Count]);
        for (int length = 0; length < bytes.Length; length++)
        {
            var e = Assert.Throws<SurgeonException>(() => SparseFile.Parse(bytes[..length], "t.sparse"));
            Assert.True(e.Message.Contains("truncated", StringComparison.Ordinal), $"cut to {length} bytes: {e.Message}");
        }
    }

    [Fact]
    public void EverySingleBitFlip_IsRefused()
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight, Count]);
        for (int bit = 0; bit < bytes.Length * 8; bit++)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            var e = Assert.Throws<SurgeonException>(() => SparseFile.Parse(flipped, "t.sparse"));
            Assert.True(e.Message.Contains("is corrupt or truncated", StringComparison.Ordinal) || e.Message.Contains("is not a Surgeon sparse file", StringComparison.Ordinal),
                $"bit {bit}: {e.Message}");
        }
    }

    [Fact]
    public void OtherFiles_AreNamedAsNotSparse()
    {
        var e = Assert.Throws<SurgeonException>(() => SparseFile.Parse("\x89PNG\r\n\x1a\nmore bytes here"u8.ToArray(), "x.png"));
        Assert.Equal("x.png is not a Surgeon sparse file (it does not start with \"SURGSPRS\"); give a file written by 'surgeon export --format sparse'", e.Message);
        Assert.Contains("is empty", Assert.Throws<SurgeonException>(() => SparseFile.Parse([], "e.sparse")).Message);
    }

    public static TheoryData<string, string> BadTables => new()
    {
        { "encoding", "unknown encoding 'runlength'" },
        { "dtype", "unknown dtype 'F33'" },
        { "offset", "starts at data offset 1, not right after the tensor before it (0)" },
        { "length", "past the end of the data" },
        { "stored", "its bitmask has 2 bits set but the header says 3 values are stored" },
        { "duplicate", "tensor fc.weight is listed twice" },
        { "trailing", "1 bytes of data follow the last tensor's block" },
        { "shape", "has shape [4, -4]" },
        { "no-model", "its header is not the expected JSON" },
        { "unknown-field", "its header is not the expected JSON" },
        { "not-json", "its header is not the expected JSON" },
        { "version", "is a version 3 sparse file; this surgeon reads versions 1 and 2" },
        { "header-length", "its header length 100000 runs past the end of the file" },
    };

    /// <summary>Files made by hand with a correct checksum, so the checks behind it are the ones exercised.</summary>
    [Theory]
    [MemberData(nameof(BadTables))]
    public void ATableThatContradictsTheData_IsRefusedWithTheReason(string edit, string phrase)
    {
        var (bytes, _) = SparseFile.Build(Info, [Weight]);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        string json = Encoding.UTF8.GetString(bytes, 20, headerLength);
        byte[] data = bytes[(20 + headerLength)..^32];
        var header = JsonNode.Parse(json)!.AsObject();
        var entry = header["tensors"]![0]!.AsObject();
        uint version = 1;
        long? claimedHeaderLength = null;
        switch (edit)
        {
            case "encoding": entry["encoding"] = "runlength"; break;
            case "dtype": entry["dtype"] = "F33"; break;
            case "offset": entry["offset"] = 1; break;
            case "length": entry["length"] = 11; break;
            case "stored": // a block of the right length for 3 values, whose mask has 2 bits set
                entry["stored"] = 3;
                entry["length"] = 14;
                data = [.. data, 0, 0, 0x40, 0x40];
                break;
            case "duplicate": header["tensors"]!.AsArray().Add(entry.DeepClone()); break;
            case "trailing": data = [.. data, 0]; break;
            case "shape": entry["shape"] = new JsonArray(4, -4); break;
            case "no-model": header.Remove("model"); break;
            case "unknown-field": entry["compression"] = "none"; break;
            case "version": version = 3; break;
            case "header-length": claimedHeaderLength = 100_000; break;
        }
        json = edit == "not-json" ? json[..^3] : header.ToJsonString();
        var e = Assert.Throws<SurgeonException>(() => SparseFile.Parse(Assemble(json, data, version, claimedHeaderLength), "t.sparse"));
        Assert.True(e.Message.Contains(phrase, StringComparison.Ordinal), e.Message);
        Assert.StartsWith("t.sparse ", e.Message);
    }

    [Fact]
    public void A2To4Tensor_MakesAVersion2File_ThatRoundTrips_AndIsRefusedAsVersion1()
    {
        // 48 floats [4, 12], in every group of 4 the values 1.0 and −2.0 at the pair (g mod 6) of SparseBlocks.Pairs
        var data = new byte[48 * 4];
        for (int g = 0; g < 12; g++)
        {
            var (a, b) = SparseBlocks.Pairs[g % 6];
            BitConverter.TryWriteBytes(data.AsSpan((4 * g + a) * 4), 1.0f);
            BitConverter.TryWriteBytes(data.AsSpan((4 * g + b) * 4), -2.0f);
        }
        var weight = new StateTensor("fc.weight", "F32", [4, 12], data);
        var (bytes, entries) = SparseFile.Build(Info, [weight, Count]);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)));
        Assert.Equal("2:4", entries[0].Encoding);
        Assert.Equal(24, entries[0].Stored);
        Assert.Equal(4 + 24 * 4, entries[0].Length); // 12 groups: 4 pattern bytes, 24 values (a bitmask would be 6 + 96)
        var back = SparseFile.Parse(bytes, "t.sparse");
        Assert.Equal(data, back.Tensors[0].Data);

        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        string json = Encoding.UTF8.GetString(bytes, 20, headerLength);
        var e = Assert.Throws<SurgeonException>(() => SparseFile.Parse(Assemble(json, bytes[(20 + headerLength)..^32], 1, null), "t.sparse"));
        Assert.Contains("is a 2:4 block, which a version 1 file cannot hold", e.Message);
    }

    /// <summary>A sparse file put together by hand: preamble, header, data, and the SHA-256 of all of it.</summary>
    private static byte[] Assemble(string json, byte[] data, uint version, long? headerLength)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var body = new byte[20 + header.Length + data.Length];
        "SURGSPRS"u8.CopyTo(body);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), version);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(12), (ulong)(headerLength ?? header.Length));
        header.CopyTo(body, 20);
        data.CopyTo(body, 20 + header.Length);
        return [.. body, .. SHA256.HashData(body)];
    }

    [Fact]
    public void TheHeaderJson_UsesTheSidecarsFieldNames()
    {
        // The model object is the checkpoint sidecar's JSON (camelCase), so the two stay one format.
        var (bytes, _) = SparseFile.Build(Info with { Channels = [3, 4] }, [Weight]);
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(12));
        using var doc = JsonDocument.Parse(bytes.AsMemory(20, headerLength));
        var model = doc.RootElement.GetProperty("model");
        Assert.Equal([3, 4], model.GetProperty("channels").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(CheckpointInfo.CurrentFormat, model.GetProperty("format").GetString());
        Assert.Equal("random", model.GetProperty("dataset").GetString());
    }
}
