using Surgeon.Compression;
using Surgeon.Export;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Tests.Models;
using Surgeon.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Every registry model, half of its weights pruned, with random BatchNorm statistics and batch counters, saved as a
/// sparse file and as safetensors and imported back: the imported model has the very same state, byte for byte (for
/// the sparse file: but for −0.0, which it stores as a zero and gives back as +0.0), the same description, and gives
/// bit-identical logits. The same for filter-pruned (shrunk) models and a 90 %-sparse
/// MLPNet, whose sparse file is also checked to be much smaller than the dense weights file.
/// </summary>
public class WeightFileRoundTripTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("weight-files-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string, string, int, int, double> Models()
    {
        var data = new TheoryData<string, string, int, int, double>();
        foreach (string format in new[] { "sparse", "safetensors" })
        {
            data.Add(format, "mlpnet", 1, 28, 1.0);
            data.Add(format, "vgg13", 3, 32, 0.125);
            data.Add(format, "mobilenet-v1", 1, 28, 0.125);
            data.Add(format, "resnet20", 3, 32, 0.25);
            data.Add(format, "resnet56", 3, 32, 0.25);
            data.Add(format, "lenet5", 1, 28, 1.0);
            data.Add(format, "lenet300", 3, 32, 0.5);
        }
        return data;
    }

    [Fact]
    public void Matrix_CoversEveryRegistryModel()
    {
        foreach (string format in new[] { "sparse", "safetensors" })
            Assert.Equal(ModelRegistry.Names.Order(), Models().Where(row => (string)row[0] == format).Select(row => (string)row[1]).Order());
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void RegistryModel_RoundTrips_BitIdentically(string format, string name, int channels, int side, double width)
    {
        var info = Info(new ModelSpec(name, [channels, side, side], 10, width));
        manual_seed(1);
        using var model = ModelRegistry.Create(info.Spec);
        ConvModels.RandomiseNorms(model);
        CountBatches(model);
        Prune(model, 0.5);
        AssertRoundTrip(format, model, info);
    }

    [Theory]
    [InlineData("sparse", "vgg13", 0.125)]
    [InlineData("sparse", "mobilenet-v1", 0.125)]
    [InlineData("sparse", "resnet20", 0.25)]
    [InlineData("sparse", "resnet56", 0.25)]
    [InlineData("safetensors", "vgg13", 0.125)]
    [InlineData("safetensors", "mobilenet-v1", 0.125)]
    [InlineData("safetensors", "resnet20", 0.25)]
    [InlineData("safetensors", "resnet56", 0.25)]
    [InlineData("sparse", "lenet5", 0.5)]
    [InlineData("safetensors", "lenet300", 0.5)]
    public void FilterPrunedModel_RoundTrips_AtItsSmallerSize(string format, string name, double width)
    {
        using var model = ConvModels.Create(name, [3, 32, 32], width);
        ConvModels.RandomiseNorms(model);
        var groups = ConvModels.Structured(model).FilterGroups.Where(g => g.Removable);
        var keep = groups.ToDictionary(g => g.Name, g => Enumerable.Range(0, g.Channels).Where(c => c % 3 != 1).Select(c => (long)c).ToArray());
        using var shrunk = ConvModels.Structured(model).Shrink(keep);
        var spec = ConvModels.Structured(shrunk).Spec;
        Assert.NotNull(spec.Channels);
        var imported = AssertRoundTrip(format, shrunk, Info(spec));
        Assert.Equal(spec.Channels, imported.Channels);
    }

    [Theory]
    [InlineData("sparse")]
    [InlineData("safetensors")]
    public void NinetyPercentSparseMlp_RoundTrips(string format)
    {
        var info = Info(new ModelSpec("mlpnet", [1, 28, 28], 10)) with { Sparsity = 0.9, PruningMethod = "mp" };
        manual_seed(2);
        using var model = ModelRegistry.Create(info.Spec);
        Prune(model, 0.9);
        var imported = AssertRoundTrip(format, model, info);
        Assert.Equal((0.9, "mp"), (imported.Sparsity, imported.PruningMethod));
    }

    [Fact]
    public void NinetyPercentSparseMlp_SparseFile_IsAFractionOfTheDenseFile()
    {
        var info = Info(new ModelSpec("mlpnet", [1, 28, 28], 10));
        manual_seed(2);
        using var model = ModelRegistry.Create(info.Spec);
        Prune(model, 0.9);
        var r = SparseExport.WriteFile(model, info, Path.Combine(dir, "m.sparse"));
        output.WriteLine(SparseExport.Describe(r));
        Assert.Equal(new FileInfo(Path.Combine(dir, "m.sparse")).Length, r.SparseBytes);
        Assert.Equal(DenseSizes.DenseBytes(model).LongLength, r.DenseBytes);
        // 3,236 of 32,360 weights kept: 12,944 bytes of values and a 3,920-byte mask for fc1 against 129,440 dense.
        Assert.Equal(32_360 - (long)Math.Floor(0.9 * 32_360), r.StoredValues);
        Assert.InRange(r.SparseBytes, 3_236 * 4, r.DenseBytes / 5);
        Assert.True(r.SparseBytes < r.GzipBytes, SparseExport.Describe(r));
    }

    /// <summary>Exports, imports, and checks the imported model's state and logits; returns the imported description.</summary>
    private CheckpointInfo AssertRoundTrip(string format, nn.Module<Tensor, Tensor> model, CheckpointInfo info)
    {
        string path = Path.Combine(dir, "model." + format);
        var result = ExportFormats.Get(format).Write(model, info, path);
        Assert.Equal(new FileInfo(path).Length, result.Bytes);
        Assert.Empty(Directory.GetFiles(dir, ".*tmp*")); // the atomic write left no temporary file
        output.WriteLine($"{info.Architecture}: {result.Details}");

        var imported = ImportFormats.Get(format).Read(new ImportRequest(format, path));
        using (imported.Model)
        {
            AssertSameState(model, imported.Model, plusZeros: format == "sparse");
            AssertSameLogits(model, imported.Model, info.InputShape);
            Assert.Equal((info.Architecture, info.NumClasses, info.Width, info.Dataset), (imported.Info.Architecture, imported.Info.NumClasses, imported.Info.Width, imported.Info.Dataset));
            Assert.Equal(info.InputShape, imported.Info.InputShape);
            Assert.Equal(format, imported.Info.Notes["importFormat"]);
        }
        return imported.Info;
    }

    /// <param name="plusZeros">Compare with every float −0.0 of <paramref name="a"/> read as +0.0.</param>
    internal static void AssertSameState(nn.Module a, nn.Module b, bool plusZeros = false)
    {
        var sa = ModelState.Read(a).Select(t => plusZeros && t.DType == "F32" ? t with { Data = PlusZeros(t.Data) } : t).ToList();
        var sb = ModelState.Read(b);
        Assert.Equal(sa.Select(t => (t.Name, t.DType)), sb.Select(t => (t.Name, t.DType)));
        foreach (var (x, y) in sa.Zip(sb))
        {
            Assert.Equal(x.Shape, y.Shape);
            Assert.True(x.Data.AsSpan().SequenceEqual(y.Data), $"{x.Name} differs");
        }
    }

    private static byte[] PlusZeros(byte[] floats)
    {
        var copy = (byte[])floats.Clone();
        for (int i = 0; i < copy.Length; i += 4)
            if (BitConverter.ToSingle(copy, i) == 0f) copy.AsSpan(i, 4).Clear();
        return copy;
    }

    internal static void AssertSameLogits(nn.Module<Tensor, Tensor> a, nn.Module<Tensor, Tensor> b, int[] inputShape)
    {
        using var scope = NewDisposeScope();
        manual_seed(9);
        var x = randn([3, .. inputShape.Select(d => (long)d)]);
        a.eval();
        b.eval();
        using var _ = no_grad();
        var ya = a.call(x);
        var yb = b.call(x);
        Assert.True(ya.abs().sum().item<float>() > 0, "the logits are all zero: the test would pass for any weights");
        Assert.True(ya.bytes.SequenceEqual(yb.bytes), "logits differ");
    }

    private static CheckpointInfo Info(ModelSpec spec) => new()
    {
        Architecture = spec.Architecture,
        InputShape = spec.InputShape,
        NumClasses = spec.NumClasses,
        Width = spec.Width,
        Channels = spec.Channels,
        Dataset = "random",
        Seed = 4,
        TestAccuracy = 0.5,
        Notes = new() { ["origin"] = "test" },
    };

    private static void Prune(nn.Module<Tensor, Tensor> model, double sparsity)
    {
        var parameters = PrunableParameters.Discover(model);
        using var masks = PruningMethods.Get("mp").Prune(new PruningContext { Model = model, Parameters = parameters }, sparsity).Mask!;
    }

    /// <summary>Distinct batch counters per BatchNorm, so the int64 buffers are really carried.</summary>
    private static void CountBatches(nn.Module model)
    {
        using var _ = no_grad();
        long k = 3;
        foreach (var (name, buffer) in model.named_buffers())
            if (name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            {
                using var value = tensor(k++);
                buffer.copy_(value);
            }
    }
}
