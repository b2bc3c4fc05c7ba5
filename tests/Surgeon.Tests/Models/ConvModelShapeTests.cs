using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

public class ConvModelShapeTests
{
    public static TheoryData<string, int[]> ModelsAndInputs()
    {
        var data = new TheoryData<string, int[]>();
        foreach (string name in ConvModels.Names)
        {
            data.Add(name, [1, 28, 28]);
            data.Add(name, [3, 32, 32]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ModelsAndInputs))]
    public void Forward_GivesOneRowOfLogitsPerSample(string name, int[] input)
    {
        var model = ConvModels.Create(name, input, width: 0.125);
        model.eval();
        using var x = randn([2, .. input.Select(d => (long)d)]);
        using var logits = model.call(x);
        Assert.Equal([2L, 10L], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Fact]
    public void WrongChannelCount_IsAClearError()
    {
        var model = ConvModels.Create("resnet20", [3, 32, 32], width: 0.125);
        using var x = randn(2, 1, 32, 32);
        Assert.Contains("expects N×3×H×W", Assert.Throws<SurgeonException>(() => model.call(x)).Message);
    }

    // Parameter counts at width 1 on 3×32×32 with 10 classes, from the architectures (conv k×k×in×out, BN 2 per
    // channel, linear in×out + out), next to the published-size figure each should reproduce.
    [Theory]
    [InlineData("vgg13", 9_413_066L)]        // ≈ 9.4 M
    [InlineData("mobilenet-v1", 3_217_226L)] // ≈ 3.2 M
    [InlineData("resnet20", 272_474L)]       // ≈ 0.27 M
    [InlineData("resnet56", 855_770L)]       // ≈ 0.86 M
    public void ParameterCountAtWidthOne_MatchesTheArchitecture(string name, long expected)
    {
        long formula = name switch
        {
            "vgg13" => VggParameters(3, 10),
            "mobilenet-v1" => MobileNetParameters(3, 10),
            "resnet20" => ResNetParameters(3, 3, 10),
            _ => ResNetParameters(9, 3, 10),
        };
        Assert.Equal(expected, formula);
        var model = ConvModels.Create(name, [3, 32, 32], width: 1);
        Assert.Equal(expected, ConvModels.CountParameters(model));
    }

    /// <summary>The ADMM papers' figures: LeNet-5 (Caffe) 430,500 weights and 431,080 parameters on 28×28, LeNet-300-100
    /// 266,200 weights and 266,610 parameters; counted by hand from the layers.</summary>
    [Theory]
    [InlineData("lenet5", 430_500L, 431_080L)]   // 20·25 + 50·20·25 + 500·800 + 10·500; biases 20 + 50 + 500 + 10
    [InlineData("lenet300", 266_200L, 266_610L)] // 784·300 + 300·100 + 100·10; biases 300 + 100 + 10
    public void LeNetSizes_MatchThePapers(string name, long weights, long parameters)
    {
        Assert.Equal(weights, name == "lenet5" ? 20 * 25 + 50 * 20 * 25 + 500 * 800 + 10 * 500 : 784 * 300 + 300 * 100 + 100 * 10);
        var model = ConvModels.Create(name, [1, 28, 28], width: 1);
        Assert.Equal(weights, Surgeon.Compression.PrunableParameters.TotalCount(Surgeon.Compression.PrunableParameters.Discover(model)));
        Assert.Equal(parameters, ConvModels.CountParameters(model));
    }

    [Fact]
    public void LeNet5_TooSmallOrOtherSizedInputs_AreClearErrors()
    {
        Assert.Equal("lenet5 needs inputs of at least 16×16 (two 5×5 convs and two 2×2 pools), got 1x15x28",
            Assert.Throws<SurgeonException>(() => ConvModels.Create("lenet5", [1, 15, 28], width: 1)).Message);
        var model = ConvModels.Create("lenet5", [1, 28, 28], width: 0.1);
        using var x = randn(2, 1, 32, 32);
        Assert.Equal("lenet5 was built for 1x28x28 inputs, got [2×1×32×32]", Assert.Throws<SurgeonException>(() => model.call(x)).Message);
        var mlp = ConvModels.Create("lenet300", [1, 28, 28], width: 0.1);
        using var y = randn(2, 1, 20, 20);
        Assert.StartsWith("lenet300 takes 784 inputs per sample", Assert.Throws<SurgeonException>(() => mlp.call(y)).Message);
    }

    [Fact]
    public void WidthMultiplier_ScalesChannelsRoundingToAtLeastOne()
    {
        var groups = ConvModels.Structured(ConvModels.Create("resnet20", [3, 32, 32], width: 0.03)).FilterGroups;
        // 16·0.03 = 0.48 → 1 (at least one), 32·0.03 = 0.96 → 1, 64·0.03 = 1.92 → 2.
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2], groups.Select(g => g.Channels));
    }

    private static long Conv(long cin, long cout, long k) => cin * cout * k * k + 2 * cout; // weight + BN γ, β

    private static long VggParameters(int inChannels, int classes)
    {
        int[] widths = [64, 64, 128, 128, 256, 256, 512, 512, 512, 512];
        long total = 0, cin = inChannels;
        foreach (int w in widths) { total += Conv(cin, w, 3); cin = w; }
        return total + cin * classes + classes;
    }

    private static long MobileNetParameters(int inChannels, int classes)
    {
        int[] widths = [64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];
        long total = Conv(inChannels, 32, 3), cin = 32;
        foreach (int w in widths)
        {
            total += cin * 9 + 2 * cin; // depthwise 3×3, one filter per channel, + BN
            total += Conv(cin, w, 1);
            cin = w;
        }
        return total + cin * classes + classes;
    }

    private static long ResNetParameters(int blocks, int inChannels, int classes)
    {
        long total = Conv(inChannels, 16, 3), cin = 16;
        foreach (int w in new[] { 16, 32, 64 })
            for (int b = 0; b < blocks; b++)
            {
                total += Conv(cin, w, 3) + Conv(w, w, 3);
                if (cin != w) total += Conv(cin, w, 1); // projection shortcut where the stage widens
                cin = w;
            }
        return total + cin * classes + classes;
    }
}
