using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Surgeon.Export;
using Surgeon.Export.Safetensors;
using Surgeon.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// The safetensors writer read back by hand (header length, padding, JSON entries, data), surgeon's checksum computed
/// independently from its documented definition, and the reader refusing every truncation and every single-bit flip of
/// a file surgeon wrote while accepting the same header re-spelt (other whitespace, other key order).
/// </summary>
public class SafetensorsWriterTests
{
    private static readonly StateTensor A = new("layer.weight", "F32", [2], [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x10, 0xC0]);
    private static readonly StateTensor B = new("bn.num_batches_tracked", "I64", [], [0x07, 0, 0, 0, 0, 0, 0, 0]);

    [Fact]
    public void Layout_IsLengthPaddedJsonHeaderThenData()
    {
        var bytes = SafetensorsWriter.Build([A, B], new Dictionary<string, string> { ["format"] = "pt" });

        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8); // the data starts 8-byte aligned
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.StartsWith("""{"__metadata__":{"format":"pt","surgeon.sha256":""", header);
        Assert.Contains("""},"layer.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}""", header);
        Assert.Matches("^[^ ]*} {0,7}$", header);
        Assert.Equal([.. A.Data, .. B.Data], bytes[(8 + (int)n)..]);
    }

    [Fact]
    public void Checksum_FollowsItsDocumentedDefinition()
    {
        var bytes = SafetensorsWriter.Build([A, B], new Dictionary<string, string> { ["format"] = "pt", ["a"] = "é" });
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!.AsObject();

        // Metadata but the checksum in ordinal key order ("a" < "format"), then tensors by name ("bn..." < "layer..."),
        // each string as u32 length + UTF-8, each tensor's rank as u32, dimensions and offsets as u64, then the data.
        var expected = new List<byte>();
        void Text(string s) { var b = Encoding.UTF8.GetBytes(s); expected.AddRange(BitConverter.GetBytes((uint)b.Length)); expected.AddRange(b); }
        void U64(long v) => expected.AddRange(BitConverter.GetBytes((ulong)v));
        Text("a"); Text("é"); Text("format"); Text("pt");
        Text("bn.num_batches_tracked"); Text("I64"); expected.AddRange(BitConverter.GetBytes(0u)); U64(8); U64(16);
        Text("layer.weight"); Text("F32"); expected.AddRange(BitConverter.GetBytes(1u)); U64(2); U64(0); U64(8);
        expected.AddRange(A.Data);
        expected.AddRange(B.Data);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData([.. expected])), (string?)header["__metadata__"]!["surgeon.sha256"]);
    }

    [Fact]
    public void TheSameHeader_RespeltWithOtherWhitespaceAndKeyOrder_StillPassesTheChecksum()
    {
        var bytes = SafetensorsExport.Build(TinyModel(), Info);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!.AsObject();
        var reordered = new JsonObject();
        foreach (var (key, value) in header.Reverse().ToList())
        {
            header.Remove(key);
            reordered[key] = value;
        }
        string respelt = reordered.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        var file = SafetensorsReader.Parse(SafetensorsFiles.Make(Encoding.UTF8.GetBytes(respelt), bytes[(8 + (int)n)..]), "t.safetensors");
        Assert.Equal(3, file.Tensors.Count);
    }

    [Fact]
    public void EveryTruncation_IsRefused()
    {
        var bytes = SafetensorsExport.Build(TinyModel(), Info);
        for (int length = 0; length < bytes.Length; length++)
        {
            var e = Assert.Throws<SurgeonException>(() => SafetensorsReader.Parse(bytes[..length], "t.safetensors"));
            Assert.True(e.Message.Contains("truncated", StringComparison.Ordinal) || e.Message.Contains("too short", StringComparison.Ordinal), $"cut to {length}: {e.Message}");
        }
    }

    [Fact]
    public void EverySingleBitFlip_IsRefused()
    {
        var bytes = SafetensorsExport.Build(TinyModel(), Info);
        for (int bit = 0; bit < bytes.Length * 8; bit++)
        {
            var flipped = (byte[])bytes.Clone();
            flipped[bit / 8] ^= (byte)(1 << (bit % 8));
            var e = Record.Exception(() => SafetensorsReader.Parse(flipped, "t.safetensors"));
            Assert.True(e is SurgeonException, $"bit {bit} (byte {bit / 8}): {e?.GetType().Name ?? "accepted"} {e?.Message}");
            Assert.StartsWith("t.safetensors is ", e!.Message);
        }
    }

    [Fact]
    public void AFileWithSurgeonsDescriptionButNoChecksum_IsRefused()
    {
        string header = """{"__metadata__":{"surgeon.checkpoint":"{}"},"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}""";
        var e = Assert.Throws<SurgeonException>(() => SafetensorsReader.Parse(SafetensorsFiles.Make(header, 1), "t.safetensors"));
        Assert.Contains("is corrupt: it holds surgeon's model description but not the checksum", e.Message);
    }

    private static readonly CheckpointInfo Info = new() { Architecture = "mlpnet", InputShape = [1, 2, 2], NumClasses = 2, Width = 0.05, Dataset = "random" };

    /// <summary>MLPNet 4-2-1-2: three tiny weight matrices.</summary>
    private static MLPNet TinyModel()
    {
        manual_seed(5);
        return (MLPNet)ModelRegistry.Create(Info.Spec);
    }
}
