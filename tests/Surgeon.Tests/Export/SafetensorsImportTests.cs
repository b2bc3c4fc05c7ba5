using System.Text;
using Surgeon.Export;
using Surgeon.Export.Safetensors;
using Surgeon.Models;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Importing safetensors written by hand (as another tool would) into a registry model by parameter name: each float
/// dtype lands as the float32 values written, integer dtypes land in BatchNorm's int64 counter, and the report names
/// missing, unexpected and mis-shaped tensors; missing and mis-shaped ones stop the import unless allowed.
/// </summary>
public class SafetensorsImportTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("st-import-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>MLPNet on 1×2×2 inputs, width 0.05, 2 classes: fc1 2×4, fc2 1×2, fc3 2×1 (no biases).</summary>
    private static readonly CheckpointInfo Tiny = new() { Architecture = "mlpnet", InputShape = [1, 2, 2], NumClasses = 2, Width = 0.05, Dataset = "random" };

    // fc1 = 1.5, -2.25, 0, 0.5, 1, -1, 2, 0.25; fc2 = 0.5, -0.5; fc3 = 2, -2 — exact in F16, BF16, F32 and F64.
    private static readonly double[] Fc1 = [1.5, -2.25, 0, 0.5, 1, -1, 2, 0.25], Fc2 = [0.5, -0.5], Fc3 = [2, -2];

    private string Write(string name, string header, byte[] data)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, SafetensorsFiles.Make(header, data));
        return path;
    }

    /// <summary>A file with the three weights in <paramref name="dtype"/>, values encoded by <paramref name="encode"/>;
    /// <paramref name="extra"/> adds header entries (their data appended after the weights').</summary>
    private string WeightsFile(string dtype, int size, Func<double, byte[]> encode, string extraHeader = "", byte[]? extraData = null, string? skip = null)
    {
        var data = new List<byte>();
        var entries = new List<string>();
        foreach (var (name, shape, values) in new[] { ("fc1.weight", "2,4", Fc1), ("fc2.weight", "1,2", Fc2), ("fc3.weight", "2,1", Fc3) })
        {
            if (name == skip) continue;
            entries.Add($$"""
                "{{name}}":{"dtype":"{{dtype}}","shape":[{{shape}}],"data_offsets":[{{data.Count}},{{data.Count + values.Length * size}}]}
                """);
            foreach (double v in values) data.AddRange(encode(v));
        }
        string header = "{" + string.Join(",", entries) + extraHeader + "}";
        return Write($"{dtype}-{Guid.NewGuid():N}.safetensors", header.Replace("@", data.Count.ToString()), [.. data, .. extraData ?? []]);
    }

    private static byte[] F32(double v) => BitConverter.GetBytes((float)v);
    private static byte[] F64(double v) => BitConverter.GetBytes(v);
    private static byte[] F16(double v) => BitConverter.GetBytes((Half)v);
    private static byte[] BF16(double v) => BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)); // exact for these values

    public static TheoryData<string> FloatDtypes => new() { "F32", "F16", "BF16", "F64" };

    [Theory]
    [MemberData(nameof(FloatDtypes))]
    public void EachFloatDtype_LoadsTheValuesWritten(string dtype)
    {
        var (size, encode) = dtype switch
        {
            "F32" => (4, (Func<double, byte[]>)F32),
            "F16" => (2, F16),
            "BF16" => (2, BF16),
            _ => (8, F64),
        };
        string path = WeightsFile(dtype, size, encode);

        var result = SafetensorsImport.Read(new ImportRequest("safetensors", path, Tiny));
        using (result.Model)
        {
            var state = result.Model.state_dict();
            Assert.Equal(Fc1.Select(v => (float)v), state["fc1.weight"].data<float>().ToArray());
            Assert.Equal(Fc2.Select(v => (float)v), state["fc2.weight"].data<float>().ToArray());
            Assert.Equal(Fc3.Select(v => (float)v), state["fc3.weight"].data<float>().ToArray());
        }
        Assert.Equal(["loaded 3 of the model's 3 tensors by name", "missing: none", "unexpected: none", "mis-shaped: none"], result.Report);
        Assert.Equal("mlpnet", result.Info.Architecture);
        Assert.Equal(Path.GetFileName(path), result.Info.Notes["importedFrom"]);
    }

    public static TheoryData<string, byte[], long> IntegerCounters => new()
    {
        { "I64", [0x2A, 0, 0, 0, 0, 0, 0, 0], 42 },
        { "I32", [0x2A, 0, 0, 0], 42 },
        { "I16", [0x2A, 0], 42 },
        { "I8", [0x2A], 42 },
        { "U8", [0xC8], 200 },
    };

    [Theory]
    [MemberData(nameof(IntegerCounters))]
    public void EachIntegerDtype_LoadsIntoBatchNormsInt64Counter(string dtype, byte[] value, long expected)
    {
        var spec = new CheckpointInfo { Architecture = "resnet20", InputShape = [3, 8, 8], NumClasses = 2, Width = 0.0625, Dataset = "random" };
        manual_seed(0);
        using (var probe = ModelRegistry.Create(spec.Spec))
            Assert.Contains("bn1.num_batches_tracked", probe.state_dict().Keys);
        string path = Write($"{dtype}.safetensors", SafetensorsFiles.One("bn1.num_batches_tracked", dtype, "", value.Length), value);

        var result = SafetensorsImport.Read(new ImportRequest("safetensors", path, spec, AllowMissing: true));
        using (result.Model)
            Assert.Equal(expected, result.Model.state_dict()["bn1.num_batches_tracked"].item<long>());
        Assert.StartsWith("loaded 1 of the model's ", result.Report[0]);
        Assert.StartsWith("missing (kept at their initial values): conv1.weight, bn1.weight", result.Report[1]);
    }

    [Fact]
    public void MissingTensors_StopTheImport_UnlessAllowed()
    {
        string path = WeightsFile("F32", 4, F32, skip: "fc3.weight");
        var e = Assert.Throws<SurgeonException>(() => SafetensorsImport.Read(new ImportRequest("safetensors", path, Tiny)));
        Assert.Equal($"{path} does not fit a mlpnet (width 0.05, 1x2x2 inputs, 2 classes): 0 mis-shaped, 1 missing (fc3.weight), 0 unexpected; " +
            "give the matching model, or --allow-missing to keep the missing tensors at their initial values", e.Message);

        manual_seed(3);
        using var init = ModelRegistry.Create(Tiny.Spec);
        var result = SafetensorsImport.Read(new ImportRequest("safetensors", path, Tiny, AllowMissing: true, Seed: 3));
        using (result.Model)
        {
            // The missing tensor keeps the initial value of the seeded model; the others are the file's.
            Assert.Equal(init.state_dict()["fc3.weight"].data<float>().ToArray(), result.Model.state_dict()["fc3.weight"].data<float>().ToArray());
            Assert.Equal(Fc2.Select(v => (float)v), result.Model.state_dict()["fc2.weight"].data<float>().ToArray());
        }
        Assert.Equal("missing (kept at their initial values): fc3.weight", result.Report[1]);
    }

    [Fact]
    public void UnexpectedTensors_AreReported_AndIgnored()
    {
        string path = WeightsFile("F32", 4, F32, extraHeader: ""","fc9.bias":{"dtype":"F32","shape":[1],"data_offsets":[@,52]}""", extraData: F32(9));
        var result = SafetensorsImport.Read(new ImportRequest("safetensors", path, Tiny));
        result.Model.Dispose();
        Assert.Equal(["loaded 3 of the model's 3 tensors by name", "missing: none", "unexpected (ignored): fc9.bias", "mis-shaped: none"], result.Report);
    }

    [Fact]
    public void MisshapedOrMistypedTensors_StopTheImport_EvenWithAllowMissing()
    {
        // fc2 written as 2×1 instead of 1×2; the model wants 1×2.
        string header = """{"fc1.weight":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]},"fc2.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[32,40]},"fc3.weight":{"dtype":"I32","shape":[2,1],"data_offsets":[40,48]}}""";
        string path = Write("misshaped.safetensors", header, new byte[48]);
        var e = Assert.Throws<SurgeonException>(() => SafetensorsImport.Read(new ImportRequest("safetensors", path, Tiny, AllowMissing: true)));
        Assert.Contains(": 2 mis-shaped (fc2.weight (file F32 2×1, model F32 1×2), fc3.weight (file I32 2×1, model F32 2×1)), 0 missing, 0 unexpected; give the --model, --width, --channels and --data", e.Message);
    }

    [Fact]
    public void AForeignFile_WithoutAModel_AsksForOne()
    {
        string path = WeightsFile("F32", 4, F32);
        var e = Assert.Throws<SurgeonException>(() => SafetensorsImport.Read(new ImportRequest("safetensors", path)));
        Assert.Equal($"{path} has no surgeon model description in its metadata (it was not written by 'surgeon export'); name the model to load it into with --model (and --width, --channels, --data)", e.Message);
    }

    [Fact]
    public void ABrokenModelDescription_IsNamed()
    {
        // Written with surgeon's writer, so the checksum is right and the description is what is wrong.
        string path = Path.Combine(dir, "desc.safetensors");
        File.WriteAllBytes(path, SafetensorsWriter.Build([], new Dictionary<string, string> { ["surgeon.checkpoint"] = """{"architecture":"mlpnet"}""" }));
        var e = Assert.Throws<SurgeonException>(() => SafetensorsImport.Read(new ImportRequest("safetensors", path)));
        Assert.Contains("its surgeon.checkpoint metadata is not a valid model description", e.Message);
    }

    [Fact]
    public void NonFiniteWeights_AreRefused()
    {
        string path = WeightsFile("F32", 4, v => F32(v == 0.25 ? double.PositiveInfinity : v));
        var e = Assert.Throws<SurgeonException>(() => SafetensorsImport.Read(new ImportRequest("safetensors", path, Tiny)));
        Assert.Contains("parameter fc1.weight contains NaN or infinite values", e.Message);
    }

    [Fact]
    public void ExportedNames_AreTheStateDictNames_AsPyTorchSpellsThem()
    {
        // A PyTorch module with the same attribute names would have these keys in its state_dict().
        manual_seed(0);
        using var model = ModelRegistry.Create(new ModelSpec("resnet20", [3, 8, 8], 2, 0.0625));
        var names = ModelState.Read(model).Select(t => t.Name).ToList();
        Assert.Contains("conv1.weight", names);
        Assert.Contains("bn1.running_mean", names);
        Assert.Contains("bn1.num_batches_tracked", names);
        Assert.All(names, n => Assert.Matches(@"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$", n));
        Assert.Equal(Encoding.ASCII.GetByteCount(string.Concat(names)), Encoding.UTF8.GetByteCount(string.Concat(names)));
    }
}
