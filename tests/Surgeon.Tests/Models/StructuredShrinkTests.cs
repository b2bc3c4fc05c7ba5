using Surgeon.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

public class StructuredShrinkTests
{
    public static TheoryData<string> Names() => new(ConvModels.Names);

    // Small but with several channels per group, so dropping some leaves MinKeep or more.
    private static nn.Module<Tensor, Tensor> Small(string name, int[]? input = null) =>
        ConvModels.Create(name, input ?? [3, 16, 16], width: name == "resnet56" ? 0.25 : 0.125);

    /// <summary>Drops every third channel of every group (channels 0, 3, 6, …), keeping the rest.</summary>
    private static Dictionary<string, long[]> EveryThirdDropped(IStructuredModel model) =>
        model.FilterGroups
            .Where(g => g.Channels >= 2)
            .ToDictionary(g => g.Name, g => Enumerable.Range(0, g.Channels).Where(c => c % 3 != 0).Select(c => (long)c).ToArray());

    private static double MaxDifference(Tensor a, Tensor b) => a.sub(b).abs().max().to_type(ScalarType.Float64).item<double>();

    [Theory]
    [MemberData(nameof(Names))]
    public void KeepingEveryChannel_GivesIdenticalLogits(string name)
    {
        var model = Small(name);
        ConvModels.RandomiseNorms(model);
        model.eval();
        var structured = ConvModels.Structured(model);
        var all = structured.FilterGroups.ToDictionary(g => g.Name, g => Enumerable.Range(0, g.Channels).Select(c => (long)c).ToArray());
        var copy = structured.Shrink(all);
        var untouched = structured.Shrink(new Dictionary<string, long[]>());
        using var x = randn(2, 3, 16, 16);
        using var expected = model.call(x);
        using var a = copy.call(x);
        using var b = untouched.call(x);
        Assert.True(expected.eq(a).all().item<bool>() && expected.eq(b).all().item<bool>(), "a full-width copy computes different logits");
        Assert.False(copy.training);
    }

    // In float64, so the comparison sees the algebra and not the summation order: in float32 the smaller convs
    // round differently (VGG logits of size 0.2 differ by up to 3e-5 there).
    [Theory]
    [MemberData(nameof(Names))]
    public void MaskedFiltersRemoved_ChangeNoLogit(string name)
    {
        int side = name == "lenet5" ? LeNet5.MinSide : 8; // 8×8: float64 depthwise convs are slow on the CPU
        var model = Small(name, [3, side, side]);
        model.to(ScalarType.Float64);
        ConvModels.RandomiseNorms(model);
        var structured = ConvModels.Structured(model);
        var keep = EveryThirdDropped(structured);
        foreach (var group in structured.FilterGroups.Where(g => keep.ContainsKey(g.Name)))
            FilterMasking.Zero(model, group, Enumerable.Range(0, group.Channels).Select(c => (long)c).Except(keep[group.Name]).ToArray());

        var shrunk = structured.Shrink(keep);
        var shrunkGroups = ConvModels.Structured(shrunk).FilterGroups;
        foreach (var (before, after) in structured.FilterGroups.Zip(shrunkGroups))
        {
            Assert.Equal(before.Name, after.Name);
            int expected = before.Removable && keep.TryGetValue(before.Name, out var k) ? k.Length : before.Channels;
            Assert.Equal(expected, after.Channels);
        }
        Assert.True(ConvModels.CountParameters(shrunk) < ConvModels.CountParameters(model));

        Assert.Equal(ScalarType.Float64, shrunk.parameters().First().dtype);
        using var x = randn(2, 3, side, side, dtype: ScalarType.Float64);
        model.eval(); shrunk.eval();
        using (var a = model.call(x))
        using (var b = shrunk.call(x))
            Assert.True(MaxDifference(a, b) < 1e-5, $"eval logits differ by {MaxDifference(a, b)}");
        // Batch statistics too: a masked channel is all zeros, and normalises to γ·0 + β = 0.
        model.train(); shrunk.train();
        using (var a = model.call(x))
        using (var b = shrunk.call(x))
            Assert.True(MaxDifference(a, b) < 1e-5, $"train-mode logits differ by {MaxDifference(a, b)}");
    }

    [Fact]
    public void ResidualStream_IsMaskedNotRemoved()
    {
        var model = Small("resnet20");
        ConvModels.RandomiseNorms(model); // β starts at 0: make it nonzero so zeroing shows
        var structured = ConvModels.Structured(model);
        var stream = structured.FilterGroups.Single(g => g.Name == "layer2.residual");
        Assert.False(stream.Removable);
        Assert.Contains("layer2.0.shortcut.conv.weight", stream.Producers);
        Assert.Contains("layer2.0.shortcut.bn.weight", stream.Norms);
        var keep = new Dictionary<string, long[]> { ["layer2.residual"] = [0, 2] };
        var shrunk = structured.Shrink(keep);
        var parameters = shrunk.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(stream.Channels, ConvModels.Structured(shrunk).FilterGroups.Single(g => g.Name == "layer2.residual").Channels);
        foreach (string p in stream.Producers.Concat(stream.Norms).Concat(stream.Norms.Select(FilterMasking.NormBias)))
        {
            var t = parameters[p];
            Assert.Equal(0, t[1].abs().sum().item<float>());
            Assert.NotEqual(0, t[0].abs().sum().item<float>() + t[2].abs().sum().item<float>());
        }
    }

    [Fact]
    public void MobileNetDepthwiseConvs_BelongToThePrecedingGroup()
    {
        var groups = ConvModels.Structured(Small("mobilenet-v1")).FilterGroups;
        Assert.Equal(14, groups.Count);
        Assert.Equal(["conv1.weight", "layers.0.conv1.weight"], groups[0].Producers);
        Assert.Equal(["bn1.weight", "layers.0.bn1.weight"], groups[0].Norms);
        Assert.Equal(["layers.12.conv2.weight"], groups[^1].Producers);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void EveryConvAndNorm_BelongsToExactlyOneGroup(string name)
    {
        var model = Small(name);
        var groups = ConvModels.Structured(model).FilterGroups;
        var producers = groups.SelectMany(g => g.Producers).ToList();
        var norms = groups.SelectMany(g => g.Norms).ToList();
        var convs = model.named_modules().Where(m => m.module is Conv2d).Select(m => m.name + ".weight").ToList();
        var bns = model.named_modules().Where(m => m.module is SafeBatchNorm2d).Select(m => m.name + ".weight").ToList();
        // LeNet's hidden linear layers produce groups too (its neurons); every conv produces exactly one.
        var linears = model.named_modules().Where(m => m.module is Linear).Select(m => m.name + ".weight").ToHashSet();
        Assert.Equal(convs.Order(), producers.Where(p => !linears.Contains(p)).Order());
        Assert.Equal(producers.Count, producers.Distinct().Count());
        Assert.Equal(bns.Order(), norms.Order());
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void EveryConsumerBlock_MatchesItsWeightsInputs(string name)
    {
        var model = Small(name);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var g in ConvModels.Structured(model).FilterGroups)
            foreach (var consumer in g.Consumers)
                Assert.Equal(g.Channels * consumer.Block, parameters[consumer.Weight].shape[1]);
    }

    /// <summary>
    /// LeNet-5's conv2 reaches fc1 through a flatten: removing conv2 channel c must remove fc1 inputs c·16 … c·16 + 15
    /// (on 28×28, a 4×4 map per channel). Checked entry by entry against the full model's fc1 weight.
    /// </summary>
    [Fact]
    public void LeNet5_RemovingAConv2Channel_RemovesItsBlockOfFc1Inputs()
    {
        var model = ConvModels.Create("lenet5", [1, 28, 28], width: 0.1); // conv1 2, conv2 5, fc1 50
        var shrunk = ConvModels.Structured(model).Shrink(new Dictionary<string, long[]> { ["conv2"] = [0, 2, 4] });
        var before = model.named_parameters().Single(p => p.name == "fc1.weight").parameter;
        var after = shrunk.named_parameters().Single(p => p.name == "fc1.weight").parameter;
        Assert.Equal([50L, 3 * 16], after.shape);
        long[] kept = [0, 2, 4];
        for (int i = 0; i < 3; i++)
            Assert.True(after.narrow(1, i * 16, 16).eq(before.narrow(1, kept[i] * 16, 16)).all().item<bool>(), $"block {i} is not conv2 channel {kept[i]}'s");
    }

    [Fact]
    public void InvalidKeepLists_AreClearErrors()
    {
        var structured = ConvModels.Structured(Small("vgg13"));
        var first = structured.FilterGroups[0]; // 8 channels
        string Error(string group, long[] keep) =>
            Assert.Throws<SurgeonException>(() => structured.Shrink(new Dictionary<string, long[]> { [group] = keep })).Message;
        Assert.Contains("no filter group 'nope'", Error("nope", [0]));
        Assert.Contains("sorted ascending without repeats", Error(first.Name, [2, 1]));
        Assert.Contains("sorted ascending without repeats", Error(first.Name, [1, 1]));
        Assert.Contains("channel 8 is outside 0..7", Error(first.Name, [0, 8]));
        Assert.Contains("channel -1 is outside", Error(first.Name, [-1, 3]));
        Assert.Contains("fewer than the minimum 1", Error(first.Name, []));
        var wide = new FilterGroup("wide", 64, [], []);
        Assert.Equal(4, wide.MinKeep); // ⌈0.05·64⌉
        Assert.Contains("keeping 3 of 64 channels, fewer than the minimum 4", Assert.Throws<SurgeonException>(() => wide.ValidateKeep([0, 1, 2])).Message);
        wide.ValidateKeep([0, 1, 2, 63]);
    }

    [Fact]
    public void SpecChannels_AreCheckedAgainstTheArchitecture()
    {
        Assert.Contains("lists 2 channel counts but the architecture has 10 filter groups",
            Assert.Throws<SurgeonException>(() => ModelRegistry.Create(new ModelSpec("vgg13", [3, 8, 8], 10, 1, [4, 4]))).Message);
        Assert.Contains("at least 1",
            Assert.Throws<SurgeonException>(() => ModelRegistry.Create(new ModelSpec("vgg13", [3, 8, 8], 10, 1, [4, 4, 4, 4, 4, 0, 4, 4, 4, 4]))).Message);
        Assert.Contains("cannot list channel counts",
            Assert.Throws<SurgeonException>(() => ModelRegistry.Create(new ModelSpec("mlpnet", [1, 1, 12], 3, 1, [4]))).Message);
    }
}
