using Surgeon.Export;
using Surgeon.Export.Safetensors;

namespace Surgeon.Tests.Export;

/// <summary>
/// The safetensors reader against files written by hand: every accepted dtype decodes to the values written (floats
/// to float32, integers to int64), padding and key order are as the spec allows, and every malformed header is
/// refused with one line naming the problem.
/// </summary>
public class SafetensorsReaderTests
{
    // The values 1.5 and -2.25 (floats) and 7 and -3 (integers; 253 as U8), little-endian, worked out by hand:
    // F32 1.5 = 0x3FC00000, -2.25 = 0xC0100000; F16 1.5 = 0x3E00, -2.25 = 0xC080; BF16 = the top half of F32;
    // F64 1.5 = 0x3FF8000000000000, -2.25 = 0xC002000000000000.
    public static TheoryData<string, byte[], double[]> FloatFiles => new()
    {
        { "F32", [0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x10, 0xC0], [1.5, -2.25] },
        { "F16", [0x00, 0x3E, 0x80, 0xC0], [1.5, -2.25] },
        { "BF16", [0xC0, 0x3F, 0x10, 0xC0], [1.5, -2.25] },
        { "F64", [0, 0, 0, 0, 0, 0, 0xF8, 0x3F, 0, 0, 0, 0, 0, 0, 0x02, 0xC0], [1.5, -2.25] },
    };

    public static TheoryData<string, byte[], long[]> IntegerFiles => new()
    {
        { "I64", [0x07, 0, 0, 0, 0, 0, 0, 0, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [7, -3] },
        { "I32", [0x07, 0, 0, 0, 0xFD, 0xFF, 0xFF, 0xFF], [7, -3] },
        { "I16", [0x07, 0, 0xFD, 0xFF], [7, -3] },
        { "I8", [0x07, 0xFD], [7, -3] },
        { "U8", [0x07, 0xFD], [7, 253] },
    };

    [Theory]
    [MemberData(nameof(FloatFiles))]
    public void FloatDtypes_ReadAsFloat32(string dtype, byte[] data, double[] expected)
    {
        var file = SafetensorsReader.Parse(SafetensorsFiles.Make(SafetensorsFiles.One("w", dtype, "2", data.Length), data), "t.safetensors");
        var t = Assert.Single(file.Tensors);
        Assert.Equal(("w", dtype), (t.Name, t.DType));
        Assert.Equal([2L], t.Shape);
        Assert.Null(file.Metadata);
        var f32 = SafetensorsValues.Convert(t, "F32");
        Assert.Equal(expected.Select(v => (float)v), Enumerable.Range(0, 2).Select(i => BitConverter.ToSingle(f32.Data, i * 4)));
    }

    [Theory]
    [MemberData(nameof(IntegerFiles))]
    public void IntegerDtypes_ReadAsInt64(string dtype, byte[] data, long[] expected)
    {
        var file = SafetensorsReader.Parse(SafetensorsFiles.Make(SafetensorsFiles.One("n", dtype, "2", data.Length), data), "t.safetensors");
        var i64 = SafetensorsValues.Convert(Assert.Single(file.Tensors), "I64");
        Assert.Equal(expected, Enumerable.Range(0, 2).Select(i => BitConverter.ToInt64(i64.Data, i * 8)));
    }

    [Fact]
    public void F64_RoundsToNearestFloat32_AndBF16AndF16Convert()
    {
        // 0.1 as a double is 0x3FB999999999999A; the nearest float is 0x3DCCCCCD.
        byte[] data = [0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F];
        var t = SafetensorsReader.Parse(SafetensorsFiles.Make(SafetensorsFiles.One("w", "F64", "", 8), data), "t.safetensors").Tensors[0];
        Assert.Empty(t.Shape);
        Assert.Equal(0x3DCCCCCD, BitConverter.ToInt32(SafetensorsValues.Convert(t, "F32").Data));
        Assert.False(SafetensorsValues.CanConvert("I64", "F32"));
        Assert.False(SafetensorsValues.CanConvert("F32", "I64"));
        Assert.False(SafetensorsValues.CanConvert("F32", "F16"));
    }

    [Fact]
    public void SeveralTensors_Metadata_PaddingAndAnyKeyOrder_AreRead()
    {
        // The data of b comes first in the buffer though b comes last in the header; the header ends in padding spaces.
        string header = """{"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},"__metadata__":{"format":"pt","note":"x"},"b":{"shape":[1],"data_offsets":[0,1],"dtype":"I8"}}   """;
        var file = SafetensorsReader.Parse(SafetensorsFiles.Make(header, 0xFF, 0x01, 0x02), "t.safetensors");
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
        Assert.Equal([0x01, 0x02], file.Tensors[0].Data);
        Assert.Equal([0xFF], file.Tensors[1].Data);
        Assert.Equal("pt", file.Metadata!["format"]);
        Assert.Equal("x", file.Metadata["note"]);
    }

    [Fact]
    public void EmptyTensorsAndAnEmptyHeader_AreValid()
    {
        Assert.Empty(SafetensorsReader.Parse(SafetensorsFiles.Make("{}"), "t.safetensors").Tensors);
        var t = SafetensorsReader.Parse(SafetensorsFiles.Make("""{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}"""), "t.safetensors").Tensors[0];
        Assert.Equal([0L, 3L], t.Shape);
        Assert.Empty(t.Data);
    }

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "empty file", [], "it is 0 bytes long, too short for the 8-byte header length" },
        { "5 bytes", [1, 2, 3, 4, 5], "it is 5 bytes long" },
        { "length past the end", [0x40, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}'], "its header length 64 is larger than the rest of the file (2 bytes)" },
        { "huge length", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, (byte)'{', (byte)'}'], "its header length 18446744073709551615 is larger than the rest of the file" },
        { "not an object", SafetensorsFiles.Make("[1, 2]"), "its header does not start with '{'" },
        { "leading space", SafetensorsFiles.Make(" {}"), "its header does not start with '{'" },
        { "zero length", SafetensorsFiles.Make(""), "its header does not start with '{'" },
        { "cut JSON", SafetensorsFiles.Make("""{"w":{"dtype":"F32","""), "its header is not valid JSON" },
        { "trailing garbage", SafetensorsFiles.Make("{}x"), "its header is not valid JSON" },
        { "trailing comma", SafetensorsFiles.Make("""{"__metadata__":{},}"""), "its header is not valid JSON" },
        { "invalid UTF-8", SafetensorsFiles.Make([(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []), "its header is not valid UTF-8" },
        { "entry not an object", SafetensorsFiles.Make("""{"w":5}"""), "tensor 'w' is not an object with dtype, shape and data_offsets" },
        { "entry an array", SafetensorsFiles.Make("""{"w":["F32",[1],[0,4]]}""", 0, 0, 0, 0), "tensor 'w' is not an object" },
        { "empty name", SafetensorsFiles.Make(SafetensorsFiles.One("", "U8", "1", 1), 0), "a tensor has an empty name" },
        { "duplicate tensor", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""", 1, 2), "its header lists 'w' twice" },
        { "duplicate metadata", SafetensorsFiles.Make("""{"__metadata__":{},"__metadata__":{}}"""), "its header lists '__metadata__' twice" },
        { "duplicate field", SafetensorsFiles.Make("""{"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}""", 1), "tensor 'w' lists 'dtype' twice" },
        { "duplicate metadata key", SafetensorsFiles.Make("""{"__metadata__":{"a":"1","a":"2"}}"""), "its __metadata__ lists 'a' twice" },
        { "metadata not an object", SafetensorsFiles.Make("""{"__metadata__":["format","pt"]}"""), "its __metadata__ is not an object of strings" },
        { "metadata value not a string", SafetensorsFiles.Make("""{"__metadata__":{"epoch":3}}"""), "its __metadata__ entry 'epoch' is not a string" },
        { "unknown field", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"stride":[1]}}""", 1), "tensor 'w' has an unknown field 'stride'" },
        { "no dtype", SafetensorsFiles.Make("""{"w":{"shape":[1],"data_offsets":[0,1]}}""", 1), "tensor 'w' lacks 'dtype'" },
        { "no shape", SafetensorsFiles.Make("""{"w":{"dtype":"U8","data_offsets":[0,1]}}""", 1), "tensor 'w' lacks 'shape'" },
        { "no offsets", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":[1]}}""", 1), "tensor 'w' lacks 'data_offsets'" },
        { "dtype a number", SafetensorsFiles.Make("""{"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}""", 0, 0, 0, 0), "tensor 'w' has a dtype that is not a string" },
        { "unknown dtype", SafetensorsFiles.Make(SafetensorsFiles.One("w", "F33", "1", 4), 0, 0, 0, 0), "tensor 'w' has unknown dtype 'F33'" },
        { "lowercase dtype", SafetensorsFiles.Make(SafetensorsFiles.One("w", "f32", "1", 4), 0, 0, 0, 0), "tensor 'w' has unknown dtype 'f32'" },
        { "refused BOOL", SafetensorsFiles.Make(SafetensorsFiles.One("w", "BOOL", "1", 1), 1), "tensor 'w' has dtype BOOL, which surgeon does not load" },
        { "refused F8", SafetensorsFiles.Make(SafetensorsFiles.One("w", "F8_E4M3", "1", 1), 1), "tensor 'w' has dtype F8_E4M3, which surgeon does not load" },
        { "refused U32", SafetensorsFiles.Make(SafetensorsFiles.One("w", "U32", "1", 4), 0, 0, 0, 0), "dtype U32, which surgeon does not load" },
        { "negative dimension", SafetensorsFiles.Make(SafetensorsFiles.One("w", "U8", "-1", 1), 1), "tensor 'w' has a shape entry that is not a whole number ≥ 0 (-1)" },
        { "fractional dimension", SafetensorsFiles.Make(SafetensorsFiles.One("w", "U8", "1.5", 1), 1), "tensor 'w' has a shape entry that is not a whole number ≥ 0 (1.5)" },
        { "string dimension", SafetensorsFiles.Make(SafetensorsFiles.One("w", "U8", "\"1\"", 1), 1), "a shape entry that is not a whole number" },
        { "shape not an array", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}""", 1), "tensor 'w' has a shape that is not an array" },
        { "too many dimensions", SafetensorsFiles.Make(SafetensorsFiles.One("w", "U8", "1,1,1,1,1,1,1,1,1", 1), 1), "tensor 'w' has 9 dimensions" },
        { "overflowing shape", SafetensorsFiles.Make(SafetensorsFiles.One("w", "F32", "4294967296,4294967296", 4), 0, 0, 0, 0), "tensor 'w' has an impossibly large shape" },
        { "three offsets", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}""", 1), "tensor 'w' has data_offsets of 3 numbers, not [begin, end]" },
        { "reversed offsets", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}""", 1), "tensor 'w' has data_offsets [1, 0] that end before they begin" },
        { "negative offset", SafetensorsFiles.Make("""{"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}""", 1), "a data_offsets entry that is not a whole number ≥ 0 (-1)" },
        { "span too short", SafetensorsFiles.Make(SafetensorsFiles.One("w", "F32", "2,2", 12), new byte[12]), "tensor 'w' is F32 2×2 = 16 bytes but its data_offsets [0, 12] span 12" },
        { "span too long", SafetensorsFiles.Make(SafetensorsFiles.One("w", "F16", "3", 8), new byte[8]), "tensor 'w' is F16 3 = 6 bytes but its data_offsets [0, 8] span 8" },
        { "past the data", SafetensorsFiles.Make(SafetensorsFiles.One("w", "F32", "4", 16), new byte[10]), "tensor 'w' has data_offsets [0, 16] past the end of the data (10 bytes): the file is truncated" },
        { "overlap", SafetensorsFiles.Make("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}""", 1, 2, 3), "tensors 'a' and 'b' overlap" },
        { "same range twice", SafetensorsFiles.Make("""{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}""", 1, 2), "tensors 'a' and 'b' overlap" },
        { "gap", SafetensorsFiles.Make("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}""", 1, 2, 3), "1 bytes of data before tensor 'b' belong to no tensor" },
        { "gap at the start", SafetensorsFiles.Make("""{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}""", 1, 2), "1 bytes of data before tensor 'a' belong to no tensor" },
        { "bytes left over", SafetensorsFiles.Make(SafetensorsFiles.One("w", "U8", "1", 1), 1, 2, 3), "2 bytes at the end of the data belong to no tensor" },
        { "data but no tensors", SafetensorsFiles.Make("{}", 1), "1 bytes at the end of the data belong to no tensor" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void AMalformedFile_IsRefused_WithOneLineNamingTheProblem(string what, byte[] bytes, string phrase)
    {
        var e = Assert.Throws<SurgeonException>(() => SafetensorsReader.Parse(bytes, "t.safetensors"));
        Assert.True(e.Message.Contains(phrase, StringComparison.Ordinal), $"{what}: {e.Message}");
        Assert.StartsWith("t.safetensors is not a valid safetensors file: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MissingAndFolderPaths_AreNamed()
    {
        string dir = Directory.CreateTempSubdirectory("st-").FullName;
        try
        {
            Assert.Equal($"safetensors file not found: {dir}/none.safetensors",
                Assert.Throws<SurgeonException>(() => SafetensorsReader.Read(Path.Combine(dir, "none.safetensors"))).Message);
            Assert.Contains("is a folder", Assert.Throws<SurgeonException>(() => SafetensorsReader.Read(dir)).Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ElementTypes_AgreeWithTheSpecsSizes()
    {
        // The spec's byte sizes, written out: the reader must use these for the span check.
        var sizes = new Dictionary<string, int> { ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["F64"] = 8, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1 };
        Assert.Equal(sizes.Keys.Order(), SafetensorsDTypes.Accepted.Order());
        foreach (var (name, size) in sizes)
            Assert.Equal(size, ElementTypes.SizeOf(name));
    }
}
