using Surgeon.Compression;
using Surgeon.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Quantization;

/// <summary>Quantise → dequantise against hand computations: worked examples, and every bit width on random tensors.</summary>
public class UniformQuantizerTests
{
    [Fact]
    public void FourBitSymmetric_WorkedExample()
    {
        // max|x| = 1.75, so scale = 1.75 / 7 = 0.25 exactly. −0.625/0.25 = −2.5 and 0.375/0.25 = 1.5 round half to even
        // (to −2 and 2); 0.1/0.25 = 0.4 rounds to 0.
        var x = tensor(new[] { -1.75f, -0.625f, 0f, 0.375f, 0.1f, 1f });
        var q = WeightQuantizer.Compute(x, new WeightQuantizationSettings { Bits = 4 });
        Assert.Equal(new[] { 0.25 }, q.Scales);
        Assert.Equal(new[] { 0L }, q.ZeroPoints);
        Assert.Equal(new sbyte[] { -7, -2, 0, 2, 0, 4 }, UniformQuantizer.Quantize(x, q).data<sbyte>().ToArray());
        Assert.Equal(new[] { -1.75f, -0.5f, 0f, 0.5f, 0f, 1f }, UniformQuantizer.FakeQuantize(x, q).data<float>().ToArray());
    }

    [Fact]
    public void ThreeBitAsymmetric_WorkedExample()
    {
        // [−0.5, 3]: scale = 3.5 / 7 = 0.5, zero point round(−4 − (−0.5 / 0.5)) = −3. 1.25 → round(2.5) − 3 = −1 → 1.0;
        // 0.75 → round(1.5) − 3 = −1 → 1.0; 3 → 6 − 3 = 3 → 3.0; 0 → −3 → 0.
        var x = tensor(new[] { -0.5f, 0f, 0.75f, 1.25f, 3f });
        var q = WeightQuantizer.Compute(x, new WeightQuantizationSettings { Bits = 3, Symmetric = false });
        Assert.Equal(new[] { 0.5 }, q.Scales);
        Assert.Equal(new[] { -3L }, q.ZeroPoints);
        Assert.Equal(new sbyte[] { -4, -3, -1, -1, 3 }, UniformQuantizer.Quantize(x, q).data<sbyte>().ToArray());
        Assert.Equal(new[] { -0.5f, 0f, 1f, 1f, 3f }, UniformQuantizer.FakeQuantize(x, q).data<float>().ToArray());
    }

    [Fact]
    public void PerChannel_WorkedExample_EachRowHasItsOwnScale()
    {
        // Row 0: max|x| = 2 → 2-bit symmetric scale 2/1 = 2; row 1: max|x| = 0.5 → scale 0.5. Row 2 is all zero: scale 1.
        var x = tensor(new[] { 2f, -1.2f, 0.9f, 0.5f, 0.3f, -0.2f, 0f, 0f, 0f }, 3, 3);
        var q = WeightQuantizer.Compute(x, new WeightQuantizationSettings { Bits = 2, PerChannel = true });
        Assert.Equal(0, q.Axis);
        Assert.Equal(new[] { 2.0, 0.5, 1.0 }, q.Scales);
        // −1.2/2 = −0.6 → −1 → −2; 0.9/2 = 0.45 → 0; 0.3/0.5 = 0.6 → 1 → 0.5; −0.2/0.5 = −0.4 → 0.
        Assert.Equal(new[] { 2f, -2f, 0f, 0.5f, 0.5f, 0f, 0f, 0f, 0f }, UniformQuantizer.FakeQuantize(x, q).data<float>().ToArray());
    }

    public static TheoryData<int, bool, bool> Grids()
    {
        var data = new TheoryData<int, bool, bool>();
        for (int bits = 2; bits <= 8; bits++)
            foreach (bool symmetric in new[] { true, false })
                foreach (bool perChannel in new[] { false, true })
                    data.Add(bits, symmetric, perChannel);
        return data;
    }

    [Theory]
    [MemberData(nameof(Grids))]
    public void MinMaxGrid_EqualsTheHandComputation(int bits, bool symmetric, bool perChannel)
    {
        manual_seed(bits * 4 + (symmetric ? 2 : 0) + (perChannel ? 1 : 0));
        // Rows of different scales, one shifted to be all positive (the asymmetric zero point moves), one all zero.
        var x = randn(5, 3, 2, 2).mul(tensor(new[] { 0.05f, 1f, 3f, 0f, 1f }).reshape(5, 1, 1, 1));
        x[4].add_(tensor(2f), HeldScalarsOne);
        var settings = new WeightQuantizationSettings { Bits = bits, Symmetric = symmetric, PerChannel = perChannel };
        var q = WeightQuantizer.Compute(x, settings);

        float[] values = x.data<float>().ToArray();
        int rows = perChannel ? 5 : 1, width = values.Length / rows;
        var grids = Enumerable.Range(0, rows).Select(r =>
        {
            var row = values.AsSpan(r * width, width).ToArray();
            return HandQuantization.Grid(row.Min(), row.Max(), bits, symmetric);
        }).ToList();
        Assert.Equal(grids.Select(g => (double)g.Scale), q.Scales);
        Assert.Equal(grids.Select(g => (long)g.Zero), q.ZeroPoints);

        var expected = values.Select((v, i) => HandQuantization.FakeQuantize(v, grids[i / width].Scale, grids[i / width].Zero, bits)).ToArray();
        var codes = values.Select((v, i) => (sbyte)HandQuantization.Code(v, grids[i / width].Scale, grids[i / width].Zero, bits)).ToArray();
        Assert.Equal(expected, UniformQuantizer.FakeQuantize(x, q).data<float>().ToArray());
        Assert.Equal(codes, UniformQuantizer.Quantize(x, q).data<sbyte>().ToArray());
        Assert.Equal(expected, UniformQuantizer.Dequantize(UniformQuantizer.Quantize(x, q), q).data<float>().ToArray());
        Assert.All(codes, c => Assert.InRange(c, q.QMin, q.QMax));
    }

    [Theory]
    [MemberData(nameof(Grids))]
    public void ExactZeros_SurviveEveryGrid(int bits, bool symmetric, bool perChannel)
    {
        manual_seed(7);
        var x = randn(6, 40).add(tensor(0.7f), HeldScalarsOne); // mostly positive: the asymmetric zero point is far from 0
        var mask = rand(6, 40).gt(tensor(0.5f));
        x = x.mul(mask);
        x[2].zero_(); // a pruned filter
        foreach (var method in new[] { ScaleMethod.MinMax, ScaleMethod.Mse })
        {
            var q = WeightQuantizer.Compute(x, new WeightQuantizationSettings { Bits = bits, Symmetric = symmetric, PerChannel = perChannel, Scale = method });
            var y = UniformQuantizer.FakeQuantize(x, q);
            Assert.Equal(0, y.masked_select(x.eq(tensor(0f))).abs().sum().item<float>());
        }
    }

    [Fact]
    public void QuantizeWeights_PutsEveryLayerWeightOnItsGrid_AndLeavesBiasesAlone()
    {
        manual_seed(3);
        var model = nn.Sequential(("conv", nn.Conv2d(2, 3, 3)), ("flat", nn.Flatten()), ("fc", nn.Linear(12, 4)));
        var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        var grids = WeightQuantizer.QuantizeWeights(model, new WeightQuantizationSettings { Bits = 3, PerChannel = true });
        Assert.Equal(["conv.weight", "fc.weight"], grids.Keys.Order());
        foreach (var (name, p) in model.named_parameters())
        {
            float[] now = p.data<float>().ToArray();
            if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                Assert.Equal(before[name], now);
                continue;
            }
            int rows = (int)p.shape[0], width = now.Length / rows;
            for (int r = 0; r < rows; r++)
            {
                var row = before[name].AsSpan(r * width, width).ToArray();
                var (scale, zero) = HandQuantization.Grid(row.Min(), row.Max(), 3, true);
                Assert.Equal(row.Select(v => HandQuantization.FakeQuantize(v, scale, zero, 3)), now.AsSpan(r * width, width).ToArray());
                Assert.Equal((double)scale, grids[name].Scales[r]);
            }
        }
    }

    [Fact]
    public void BadParameters_AreOneLineSurgeonExceptions()
    {
        var x = tensor(new[] { 1f, -2f });
        foreach (int bits in new[] { 1, 9, 0, 16 })
            AssertOneLine(Assert.Throws<SurgeonException>(() => WeightQuantizer.Compute(x, new WeightQuantizationSettings { Bits = bits })),
                $"weight bits must be in 2..8, got {bits}");
        AssertOneLine(Assert.Throws<SurgeonException>(() => new ActivationQuantizationSettings { Bits = 9 }.Validate()), "activation bits must be in 2..8, got 9");
        foreach (double scale in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
        {
            var q = new TensorQuantization(8, true, null, [scale], [0]);
            var e = Assert.Throws<SurgeonException>(() => UniformQuantizer.FakeQuantize(x, q));
            AssertOneLine(e, $"quantisation: every scale must be positive and finite, got {scale}");
        }
        AssertOneLine(Assert.Throws<SurgeonException>(() => UniformQuantizer.FakeQuantize(x, new TensorQuantization(4, false, null, [0.1], [8]))),
            "quantisation: zero point 8 is outside the 4-bit code range -8..7");
        var e2 = Assert.Throws<SurgeonException>(() => WeightQuantizer.Compute(tensor(new[] { 1f, float.NaN }), new WeightQuantizationSettings(), "fc1.weight"));
        AssertOneLine(e2, "fc1.weight has non-finite values (NaN or ±∞); it cannot be quantised");
    }

    internal static void AssertOneLine(SurgeonException e, string expected)
    {
        Assert.Equal(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    internal static readonly Scalar HeldScalarsOne = Surgeon.Numerics.HeldScalars.One;
}
