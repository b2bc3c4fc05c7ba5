using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

/// <summary>
/// Unused-path removal on every structured registry model, in float64: zero random filters (with their norm channel, as
/// FilterMasking masks them) and random next-layer input channels, remove, and compare logits with the damaged model's;
/// check with loops over the weights that no layer is left with an all-zero input channel or a filter nobody reads,
/// and that a second pass finds nothing (the fixed point).
/// </summary>
public class UnusedPathRemovalTests
{
    public static TheoryData<string, int, double> Models => new()
    {
        { "vgg13", 16, 0.125 },
        { "mobilenet-v1", 8, 0.125 },
        { "resnet20", 8, 0.25 },
        { "resnet56", 8, 0.25 },
        { "lenet5", 16, 0.25 },
        { "lenet300", 8, 0.1 },
    };

    private static nn.Module<Tensor, Tensor> Model(string name, int side, double width, int seed = 1)
    {
        var model = ConvModels.Create(name, [3, side, side], width, seed: seed);
        model.to(ScalarType.Float64);
        ConvModels.RandomiseNorms(model);
        return model;
    }

    private static Dictionary<string, Tensor> Parameters(nn.Module model) =>
        model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

    /// <summary>Zeroes about a quarter of each group's filters (weights, bias, γ, β) and the input weights of about
    /// another sixth; with <paramref name="biasesStay"/> a no-norm group's zeroed filters keep their bias (constants).</summary>
    private static void Damage(nn.Module<Tensor, Tensor> model, int seed, bool biasesStay = false)
    {
        var rng = new Random(seed);
        var parameters = Parameters(model);
        using var _ = no_grad();
        foreach (var g in ConvModels.Structured(model).FilterGroups)
            for (int c = 0; c < g.Channels; c++)
            {
                double r = rng.NextDouble();
                if (r < 0.25 && biasesStay && g.Norms.Count == 0)
                    foreach (string p in g.Producers) parameters[p][c].zero_();
                else if (r < 0.25)
                    FilterMasking.Zero(model, g, [c]);
                else if (r < 0.42)
                    foreach (var consumer in g.Consumers)
                        parameters[consumer.Weight].narrow(1, (long)c * consumer.Block, consumer.Block).zero_();
            }
    }

    private static Tensor Logits(nn.Module<Tensor, Tensor> model, Tensor x, bool train)
    {
        model.train(train);
        using var _ = no_grad();
        return model.call(x);
    }

    private static void AssertSameLogits(nn.Module<Tensor, Tensor> a, nn.Module<Tensor, Tensor> b, int side, string what)
    {
        manual_seed(4);
        using var x = randn([4, 3, side, side], ScalarType.Float64);
        foreach (bool train in new[] { false, true })
        {
            using var ya = Logits(a, x, train);
            using var yb = Logits(b, x, train);
            double scale = ya.abs().max().item<double>(), delta = ya.sub(yb).abs().max().item<double>();
            Assert.True(scale > 1e-6, $"{what}: the logits are all near zero, the comparison would prove nothing");
            Assert.True(delta <= 1e-10 * Math.Max(1, scale), $"{what} ({(train ? "train" : "eval")} mode): logits differ by {delta:E3} (scale {scale:G3})");
        }
    }

    /// <summary>Loops over the weights: every channel of a removable group is read (a nonzero input weight somewhere
    /// downstream) and produced (a nonzero filter weight), but for a group down to the one channel every group keeps.</summary>
    private static void AssertNothingUnused(nn.Module<Tensor, Tensor> model, string what)
    {
        var parameters = Parameters(model);
        foreach (var g in ConvModels.Structured(model).FilterGroups.Where(g => g.Removable && g.Channels > 1))
            for (int c = 0; c < g.Channels; c++)
            {
                bool read = g.Consumers.Any(k => parameters[k.Weight].narrow(1, (long)c * k.Block, k.Block).abs().sum().item<double>() > 0);
                bool produced = g.Producers.Any(p => parameters[p][c].abs().sum().item<double>() > 0);
                Assert.True(read, $"{what}: {g.Name} channel {c} is read by nothing");
                Assert.True(produced, $"{what}: {g.Name} channel {c} has an all-zero filter");
            }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void RemovingUnusedPaths_ChangesNoLogit_AndLeavesNothingUnused(string name, int side, double width)
    {
        using var model = Model(name, side, width);
        Damage(model, seed: 7);
        var result = UnusedPathRemoval.Run(model);
        using var smaller = result.Model;
        Assert.True(result.ChannelsRemoved > 0, $"{name}: nothing was removed");
        Assert.True(result.Rounds >= 1);
        Assert.True(ConvModels.CountParameters(smaller) < ConvModels.CountParameters(model));
        AssertSameLogits(model, smaller, side, name);
        AssertNothingUnused(smaller, name);
        foreach (var g in result.Groups.Where(g => !g.Removable))
            Assert.Equal(g.ChannelsBefore, g.ChannelsAfter); // the residual stream is masked, never cut
        if (name.StartsWith("resnet", StringComparison.Ordinal))
            Assert.True(result.Groups.Sum(g => g.Masked) > 0, $"{name}: no residual-stream channel was masked");

        // The fixed point: a second pass finds nothing to remove or mask.
        var again = UnusedPathRemoval.Run(smaller);
        using (again.Model)
        {
            Assert.Equal(0, again.Rounds);
            Assert.Equal(result.Groups.Select(g => g.ChannelsAfter), again.Groups.Select(g => g.ChannelsAfter));
        }
    }

    [Theory]
    [InlineData("lenet5", 16, 0.25)]
    [InlineData("lenet300", 8, 0.1)]
    public void ConstantChannels_AreFoldedIntoTheNextBiases_ThenRemoved(string name, int side, double width)
    {
        using var model = Model(name, side, width, seed: 2);
        Damage(model, seed: 3, biasesStay: true); // zero filters keep their biases: constant channels
        var result = UnusedPathRemoval.Run(model);
        using var smaller = result.Model;
        Assert.True(result.Groups.Sum(g => g.Folded) > 0, $"{name}: no constant was folded");
        Assert.Equal(0, result.Groups.Sum(g => g.ConstantsKept));
        AssertSameLogits(model, smaller, side, name);
        AssertNothingUnused(smaller, name);
    }

    /// <summary>
    /// LeNet-5 by hand: conv1 filter 0 zeroed (weights and bias), conv2 filter 1 reading only conv1 channel 0 (bias 0).
    /// Round 1 removes conv1 channel 0; that empties conv2 filter 1, which round 2 removes; round 3 finds nothing.
    /// </summary>
    [Fact]
    public void EmptiedFilters_GoInTheNextRound()
    {
        using var model = Model("lenet5", 16, 0.25); // conv1 5, conv2 12 (50·0.25 = 12.5 rounds to even), fc1 125
        var p = Parameters(model);
        using (no_grad())
        {
            p["conv1.weight"][0].zero_();
            p["conv1.bias"][0].zero_();
            p["conv2.weight"][1].narrow(0, 1, 4).zero_(); // only input channel 0 left
            p["conv2.bias"][1].zero_();
        }
        var result = UnusedPathRemoval.Run(model);
        using var smaller = result.Model;
        Assert.Equal(2, result.Rounds);
        Assert.Equal([(5, 4), (12, 11), (125, 125)], result.Groups.Select(g => (g.ChannelsBefore, g.ChannelsAfter)));
        AssertSameLogits(model, smaller, 16, "lenet5");
    }

    [Fact]
    public void UnreadResidualChannel_IsMaskedWithItsProducers()
    {
        using var model = Model("resnet20", 8, 0.25); // stage widths 4, 8, 16
        var stream = ConvModels.Structured(model).FilterGroups.Single(g => g.Name == "layer1.residual");
        var p = Parameters(model);
        using (no_grad())
            foreach (var consumer in stream.Consumers)
                p[consumer.Weight].narrow(1, 2, 1).zero_(); // nothing reads channel 2 of stage 1's stream
        var result = UnusedPathRemoval.Run(model);
        using var smaller = result.Model;
        var row = result.Groups.Single(g => g.Name == "layer1.residual");
        Assert.Equal((4, 4, 1), (row.ChannelsBefore, row.ChannelsAfter, row.Masked));
        var q = Parameters(smaller);
        foreach (string producer in stream.Producers.Concat(stream.Norms).Concat(stream.Norms.Select(FilterMasking.NormBias)))
            Assert.True(q[producer][2].abs().sum().to_type(ScalarType.Float64).item<double>() == 0, $"{producer} ({q[producer].dtype}) channel 2 is not masked");
        AssertSameLogits(model, smaller, 8, "resnet20");
    }

    [Fact]
    public void ZeroFilterWithANormShift_IsAConstantChannel_KeptUnlessDropped()
    {
        using var model = Model("vgg13", 16, 0.125);
        var p = Parameters(model);
        using (no_grad())
            p["features.3.conv.weight"][1].zero_(); // BN β of channel 1 still shifts it: relu(0) → BN → a constant
        var kept = UnusedPathRemoval.Run(model);
        using (kept.Model)
        {
            Assert.Equal(0, kept.ChannelsRemoved);
            Assert.Equal(1, kept.Groups.Single(g => g.Name == "features.3").ConstantsKept);
            AssertSameLogits(model, kept.Model, 16, "vgg13");
        }
        var dropped = UnusedPathRemoval.Run(model, dropConstantChannels: true);
        using (dropped.Model)
            Assert.Equal((16, 15), dropped.Groups.Where(g => g.Name == "features.3").Select(g => (g.ChannelsBefore, g.ChannelsAfter)).Single());
    }

    [Fact]
    public void ModelWithoutFilterGroups_IsAOneLineError()
    {
        using var model = TestModels.TinyMlp();
        var e = Assert.Throws<SurgeonException>(() => UnusedPathRemoval.Run(model));
        Assert.StartsWith("unused-path removal needs a model with filter groups", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
