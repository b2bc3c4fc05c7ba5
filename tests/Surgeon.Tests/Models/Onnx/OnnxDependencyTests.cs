using Surgeon.Compression;
using Surgeon.Export.Onnx;
using Surgeon.Models;
using Surgeon.Models.Onnx;
using Surgeon.Pruning;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models.Onnx;

/// <summary>
/// The dependency groups of imported graphs (<see cref="OnnxDependencies"/>) and the shrink along them: the groups are
/// the ones the fixtures' PyTorch code implies (a residual Add joins the stem with the block's last conv; a depthwise
/// conv follows its input; the logits layer is never a group); removing channels whose filters were zeroed changes no
/// logit; the smaller graph, written as ONNX, runs in ONNX Runtime with Surgeon's logits.
/// </summary>
public class OnnxDependencyTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("onnx-deps-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("resnet", "conv1=conv1.weight,layer1_conv2.weight|layer1_conv1=layer1_conv1.weight|layer2_conv1=layer2_conv1.weight|layer2_conv2=layer2_conv2.weight,layer2_shortcut_0.weight")]
    [InlineData("concat", "a=a.weight|b=b.weight|mix=mix.weight")]
    [InlineData("dwsep", "conv1=conv1.weight,dw1.weight|pw1=pw1.weight,dw2.weight|pw2=pw2.weight")]
    [InlineData("lenet-bn", "conv1=conv1.weight|conv2=conv2.weight|fc1=fc1.weight")]
    public void GroupsAreTheOnesTheArchitectureImplies(string name, string expected)
    {
        using var model = ImportFixtures.Load(name);
        string actual = string.Join('|', model.FilterGroups.Select(g => $"{g.Name}={string.Join(',', g.Producers)}"));
        output.WriteLine(actual);
        foreach (var g in model.FilterGroups)
            output.WriteLine($"  {g.Name}: {g.Channels} channels, norms {string.Join(',', g.Norms)}, biases {string.Join(',', g.Biases)}");
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ResidualGroupsHoldEveryNormOfTheStream()
    {
        using var model = ImportFixtures.Load("resnet");
        var stream = model.FilterGroups.Single(g => g.Name == "conv1");
        Assert.Equal(["bn1.weight", "layer1_bn2.weight"], stream.Norms);
        var projected = model.FilterGroups.Single(g => g.Name == "layer2_conv2");
        Assert.Equal(["layer2_bn2.weight", "layer2_shortcut_1.weight"], projected.Norms);
    }

    [Theory]
    [InlineData("resnet")]
    [InlineData("concat")]
    [InlineData("dwsep")]
    [InlineData("lenet-bn")]
    [InlineData("mlp")]
    public void ShrinkingZeroedFiltersChangesNoLogit(string name)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        model.eval();
        var groups = model.FilterGroups;
        Assert.NotEmpty(groups);
        // Per group: drop channel 1 and the last one; their filters (producer slices, biases, BatchNorm γ and β) are zeroed first.
        var keep = new Dictionary<string, long[]>();
        foreach (var g in groups)
        {
            var drop = new long[] { 1, g.Channels - 1 };
            FilterMasking.Zero(model, g, drop);
            keep[g.Name] = Enumerable.Range(0, g.Channels).Select(c => (long)c).Except(drop).ToArray();
        }
        var x = ImportFixtures.Input();
        var masked = ImportFixtures.Logits(model, x);
        using var smaller = (OnnxGraphModel)model.Shrink(keep);
        var shrunk = ImportFixtures.Logits(smaller, x);
        double delta = ImportFixtures.MaxDelta(masked, shrunk);
        long before = PrunableParameters.TotalCount(PrunableParameters.Discover(model));
        long after = PrunableParameters.TotalCount(PrunableParameters.Discover(smaller));
        output.WriteLine($"{name}: {before} → {after} weights; max |Δlogit| {delta:E2}; groups {string.Join(", ", smaller.FilterGroups.Select(g => $"{g.Name} {g.Channels}"))}");
        Assert.True(after < before);
        Assert.Equal(groups.Select(g => g.Channels - 2), smaller.FilterGroups.Select(g => g.Channels));
        Assert.True(delta <= 1e-5, $"shrinking changed the logits by {delta:E3}");

        // The smaller graph written as ONNX: ONNX Runtime gives the same logits.
        string path = Path.Combine(dir, name + "-shrunk.onnx");
        OnnxGraphExport.Write(smaller, path);
        var (ort, _) = ImportFixtures.RunOrt(path, x);
        Assert.True(ImportFixtures.MaxDelta(ort, shrunk) <= 1e-4);
    }

    [Theory]
    [InlineData("resnet", "magnitude@filter", 0.3)]
    [InlineData("concat", "magnitude@filter", 0.4)]
    [InlineData("dwsep", "l1@filter", 0.3)]
    public void AfterFilterPruningOnnxRuntimeAgreesWithSurgeon(string name, string method, double sparsity)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        var context = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model) };
        using var result = PruningMethods.Get(method).Prune(context, sparsity);
        var pruned = Assert.IsType<OnnxGraphModel>(result.Model);
        Assert.NotSame(model, pruned);
        long removed = model.FilterGroups.Sum(g => g.Channels) - pruned.FilterGroups.Sum(g => g.Channels);
        Assert.True(removed > 0);
        string path = Path.Combine(dir, $"{name}-filters.onnx");
        OnnxGraphExport.Write(pruned, path);
        var x = ImportFixtures.Input();
        var surgeon = ImportFixtures.Logits(pruned, x);
        var (ort, _) = ImportFixtures.RunOrt(path, x);
        double delta = ImportFixtures.MaxDelta(surgeon, ort);
        output.WriteLine($"{name} {method}@{sparsity}: {removed} filters removed ({result.Sparsity:P1}); max |Δ| Surgeon vs ONNX Runtime {delta:E2}");
        Assert.True(delta <= 1e-4);
        pruned.Dispose();
    }

    [Fact]
    public void AnUnknownGroupIsOneLine()
    {
        using var model = ImportFixtures.Load("resnet");
        var e = Assert.Throws<SurgeonException>(() => model.Shrink(new Dictionary<string, long[]> { ["fc"] = [0, 1] }));
        Assert.Contains("no filter group 'fc'", e.Message);
    }
}
