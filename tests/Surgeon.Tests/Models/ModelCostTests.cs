using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

public class ModelCostTests
{
    [Fact]
    public void Mlp_CountsWeightsAndTheirMultiplyAccumulates()
    {
        var model = TestModels.TinyMlp(inputs: 12, classes: 3, width: 0.2); // 12→8→4→3, no biases
        TestModels.SetWeights(model, Enumerable.Range(0, 140).Select(i => i % 4 == 0 ? 0f : 1f).ToArray());
        var cost = ModelCost.Measure(model, [1, 1, 12]);
        Assert.Equal(12 * 8 + 8 * 4 + 4 * 3, cost.Parameters); // 140
        Assert.Equal(140 - 35, cost.NonzeroParameters);         // every 4th of 140 is zero
        Assert.Equal(140, cost.Flops);                          // one MAC per weight per sample
        Assert.Equal(105, cost.NonzeroFlops);
        Assert.Equal([72L, 24L, 9L], cost.Layers.Select(l => l.NonzeroWeights)); // zeros at 0,4,…: 24 of 96, 8 of 32, 3 of 12
    }

    [Fact]
    public void DepthwiseConv_CountsOneFilterPerChannelAtEachOutputPosition()
    {
        manual_seed(3);
        var layer = new ConvBn(4, 4, 3, stride: 2, padding: 1, groups: 4);
        var cost = ModelCost.Measure(layer, [4, 6, 6]);
        Assert.Equal(4 * 1 * 9 + 2 * 4, cost.Parameters); // depthwise weight + BN γ, β
        var conv = Assert.Single(cost.Layers);
        Assert.Equal(9, conv.Positions);                   // 6×6, stride 2, pad 1 → 3×3
        Assert.Equal(36 * 9, cost.Flops);
    }

    [Fact]
    public void ShrunkVgg_MatchesHandCounts()
    {
        // VGG-13 at width 1/16 on 1×8×8: conv widths 4,4,8,8,16,16,32,32,32,32; keep 2 filters of the first conv and
        // 5 of the last.
        var model = ConvModels.Create("vgg13", [1, 8, 8], width: 0.0625);
        var structured = ConvModels.Structured(model);
        var shrunk = structured.Shrink(new Dictionary<string, long[]>
        {
            ["features.0"] = [0, 2],
            ["features.9"] = [0, 1, 2, 3, 4],
        });
        Assert.Equal([2, 4, 8, 8, 16, 16, 32, 32, 32, 5], ConvModels.Structured(shrunk).Spec.Channels!);

        long[] cin = [1, 2, 4, 8, 8, 16, 16, 32, 32, 32], cout = [2, 4, 8, 8, 16, 16, 32, 32, 32, 5];
        // Map side at each conv: 8, pool, 4, pool, 2, pool, 1, and the fifth pool is skipped at 1×1.
        long[] side = [8, 8, 4, 4, 2, 2, 1, 1, 1, 1];
        long weights = cin.Zip(cout, (i, o) => i * o * 9).Sum();                  // 28,890
        long norms = 2 * cout.Sum();                                                // 310
        long classifier = 5 * 10 + 10;
        long flops = cin.Select((i, k) => i * cout[k] * 9 * side[k] * side[k]).Sum() + 5 * 10;
        Assert.Equal(29_260, weights + norms + classifier);
        Assert.Equal(57_938, flops);

        var cost = ModelCost.Measure(shrunk, [1, 8, 8]);
        Assert.Equal(29_260, cost.Parameters);
        Assert.Equal(57_938, cost.Flops);
        Assert.Equal(29_260 - 155, cost.NonzeroParameters); // the 155 BN β start at zero

        // Zero the last conv (32·5·9 = 1,440 weights at one position each): nonzero counts drop by exactly that.
        using (no_grad())
            shrunk.named_parameters().Single(p => p.name == "features.9.conv.weight").parameter.zero_();
        cost = ModelCost.Measure(shrunk, [1, 8, 8]);
        Assert.Equal(29_260 - 155 - 1_440, cost.NonzeroParameters);
        Assert.Equal(57_938 - 1_440, cost.NonzeroFlops);
        Assert.Equal(57_938, cost.Flops);
    }

    [Fact]
    public void LeNet5_MatchesHandCounts()
    {
        // 28×28: conv1 at 24×24 positions, conv2 at 8×8, then fc1 and fc2 once each.
        var cost = ModelCost.Measure(ConvModels.Create("lenet5", [1, 28, 28], width: 1), [1, 28, 28]);
        Assert.Equal(431_080, cost.Parameters);
        Assert.Equal([500L * 576, 25_000L * 64, 400_000, 5_000], cost.Layers.Select(l => l.Flops));
        Assert.Equal(2_293_000, cost.Flops);
    }

    [Fact]
    public void Measure_LeavesTheModelInItsMode()
    {
        var model = ConvModels.Create("resnet20", [3, 8, 8], width: 0.125);
        model.train();
        ModelCost.Measure(model, [3, 8, 8]);
        Assert.True(model.training);
    }
}
