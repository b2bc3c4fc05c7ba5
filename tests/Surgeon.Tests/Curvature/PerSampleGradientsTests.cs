using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Models;
using Surgeon.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

public class PerSampleGradientsTests
{
    /// <summary>A Linear layer applied to inputs with an extra token dimension [B, T, in], averaged over T.</summary>
    private sealed class TokenNet : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc;
        public TokenNet(int inputs, int classes) : base(nameof(TokenNet))
        {
            fc = nn.Linear(inputs, classes, hasBias: true);
            RegisterComponents();
        }
        public override Tensor forward(Tensor input) => fc.call(input).mean([1]);
    }

    /// <summary>Calls its layer's forward directly, so forward hooks never run: the fast rule must fall back.</summary>
    private sealed class HooklessNet : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc1, fc2;
        public HooklessNet(int inputs, int classes) : base(nameof(HooklessNet))
        {
            fc1 = nn.Linear(inputs, 5);
            fc2 = nn.Linear(5, classes, hasBias: false);
            RegisterComponents();
        }
        public override Tensor forward(Tensor input) =>
            fc2.forward(nn.functional.tanh(fc1.forward(input.flatten(1))));
    }

    private static void AssertClose(Tensor expected, Tensor actual, double relative)
    {
        Assert.Equal(expected.shape, actual.shape);
        double scale = expected.to(float64).norm().item<double>();
        double error = expected.to(float64).sub(actual.to(float64)).norm().item<double>();
        Assert.True(scale > 0, "reference is all zeros");
        Assert.True(error <= relative * scale, $"relative error {error / scale:E3} > {relative:E1}");
    }

    /// <summary>Fast rule (and that it really was the fast rule) against the per-sample loop.</summary>
    private static void AssertFastMatchesLoop(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        var ps = PrunableParameters.Discover(model);
        model.eval();
        using var fast = PerSampleGradients.TryComputeFast(model, ps, x, y);
        Assert.NotNull(fast);
        using var loop = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        using var viaCompute = PerSampleGradients.Compute(model, ps, x, y);
        Assert.Equal([x.shape[0], PrunableParameters.TotalCount(ps)], loop.shape);
        AssertClose(loop, fast, 1e-10);
        AssertClose(loop, viaCompute, 1e-10);
        // Row by row too, so a sample mix-up cannot hide behind a good total.
        for (long b = 0; b < x.shape[0]; b++)
            AssertClose(loop[b], fast[b], 1e-9);
    }

    private static Tensor Labels(int n, int classes, int seed)
    {
        var rng = new Random(seed);
        return tensor(Enumerable.Range(0, n).Select(_ => (long)rng.Next(classes)).ToArray());
    }

    [Fact]
    public void ComputeByLoop_MatchesTheHandFormula_ForALinearSoftmaxModel()
    {
        manual_seed(5);
        var model = nn.Sequential(nn.Linear(4, 3, hasBias: false)).to(float64);
        var ps = PrunableParameters.Discover(model);
        var x = randn(6, 4, float64);
        var y = tensor(new long[] { 0, 2, 1, 1, 0, 2 });
        using var g = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        var w = ps[0].Weight.detach();
        for (int b = 0; b < 6; b++)
        {
            var p = nn.functional.softmax(w.matmul(x[b]), 0);
            var residual = p - nn.functional.one_hot(y[b], 3).to(float64);
            var expected = residual.outer(x[b]).flatten();   // (softmax(Wx) − onehot(y)) xᵀ
            AssertClose(expected, g[b], 1e-12);
        }
    }

    [Fact]
    public void Fast_EqualsLoop_OnLinearLayersWithAndWithoutBias()
    {
        manual_seed(11);
        var model = nn.Sequential(nn.Linear(7, 6, hasBias: true), nn.Tanh(), nn.Linear(6, 5, hasBias: false),
            nn.ReLU(), nn.Linear(5, 4, hasBias: true)).to(float64);
        AssertFastMatchesLoop(model, randn(9, 7, float64), Labels(9, 4, 1));
    }

    [Fact]
    public void Fast_EqualsLoop_OnLinearWithExtraLeadingDims()
    {
        manual_seed(12);
        var model = new TokenNet(4, 3).to(float64);
        AssertFastMatchesLoop(model, randn(5, 6, 4, float64), Labels(5, 3, 2));
    }

    [Fact]
    public void Fast_EqualsLoop_OnConvolutions_StridePaddingDilationGroupsDepthwise()
    {
        manual_seed(13);
        var model = nn.Sequential(
            nn.Conv2d(2, 4, 3, stride: 2, padding: 1),                 // stride 2, padding 1, bias
            nn.Tanh(),
            nn.Conv2d(4, 6, 3, dilation: 2, padding: 2, groups: 2, bias: false), // dilation 2, groups 2
            nn.ReLU(),
            nn.Conv2d(6, 6, 3, padding: 1, groups: 6),                 // depthwise
            nn.Tanh(),
            nn.Conv2d(6, 4, (2, 3), stride: (1, 2), padding: (0, 1)), // non-square kernel, stride and padding
            nn.Flatten(),
            nn.Linear(4 * 4 * 3, 3)).to(float64); // 9×9 → 5×5 → 5×5 → 5×5 → 4×3
        var x = randn(5, 2, 9, 9, float64);
        AssertFastMatchesLoop(model, x, Labels(5, 3, 3));
    }

    [Fact]
    public void Fast_EqualsLoop_OnMLPNet()
    {
        var model = TestModels.TinyMlp(inputs: 20, classes: 4, width: 0.3);
        model.to(float64);
        AssertFastMatchesLoop(model, randn(8, 1, 4, 5, float64), Labels(8, 4, 4));
    }

    [Fact]
    public void Fast_InFloat32_MatchesLoop_To1e5()
    {
        var model = TestModels.TinyMlp(inputs: 20, classes: 4, width: 0.3);
        var ps = PrunableParameters.Discover(model);
        var x = randn(16, 20);
        var y = Labels(16, 4, 5);
        using var fast = PerSampleGradients.Compute(model, ps, x, y);
        using var loop = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        Assert.Equal(ScalarType.Float32, fast.dtype);
        AssertClose(loop, fast, 1e-5);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ComputeInto_WritesTheLoopsRows_IntoASliceOfALargerMatrix_TouchingNothingElse(bool withConvolution)
    {
        // Linear layers on [B, in] inputs take the direct outer-product write; the convolution the batched product.
        manual_seed(21);
        nn.Module<Tensor, Tensor> model = withConvolution
            ? nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 2 * 3, 5), nn.ReLU(), nn.Linear(5, 4, hasBias: false))
            : TestModels.TinyMlp(inputs: 20, classes: 4, width: 0.3);
        var ps = PrunableParameters.Discover(model);
        long d = PrunableParameters.TotalCount(ps);
        var x = withConvolution ? randn(12, 1, 4, 5) : randn(12, 20);
        var y = Labels(12, 4, 8);
        model.eval();
        using var loop = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        // Uninitialised memory is simulated by NaN: every element of the slice must be written, none outside it.
        using var big = full([12 + 5, d], double.NaN, float32);
        PerSampleGradients.ComputeInto(model, ps, x, y, big.narrow(0, 3, 12));
        AssertClose(loop, big.narrow(0, 3, 12), 1e-5);
        for (long b = 0; b < 12; b++)
            AssertClose(loop[b], big[3 + b], 1e-5);
        Assert.True(big.narrow(0, 0, 3).isnan().all().item<bool>());
        Assert.True(big.narrow(0, 15, 2).isnan().all().item<bool>());
    }

    [Theory]
    [InlineData(1L << 40)]   // one view of all rows per thread's range
    [InlineData(3 * 4 * 50L)] // views of 3 rows, the last shorter: every range cut into several views
    public void OuterProductsWrite_EqualsTheBatchedOuterProduct_InEveryView(long maxViewBytes)
    {
        // Two layers' δ_b a_bᵀ written side by side into rows of 50 float32 columns (4×7 + 2×9 = 46, 4 left as they were),
        // against the same products by einsum in float64.
        manual_seed(5);
        var (a1, d1, a2, d2) = (randn(11, 7), randn(11, 4), randn(11, 9), randn(11, 2));
        using var result = full([11, 50], double.NaN, float32);
        var layers = new List<OuterProducts>
        {
            OuterProducts.Of(a1, d1, [4, 7], 11, 0, result)!,
            OuterProducts.Of(a2, d2, [2, 9], 11, 28, result)!,
        };
        OuterProducts.Write(layers, result, maxViewBytes);
        var expected1 = einsum("bo,bi->boi", d1.to(float64), a1.to(float64)).reshape(11, 28);
        var expected2 = einsum("bo,bi->boi", d2.to(float64), a2.to(float64)).reshape(11, 18);
        Assert.True(result.narrow(1, 0, 28).to(float64).allclose(expected1, rtol: 1e-6, atol: 1e-7));
        Assert.True(result.narrow(1, 28, 18).to(float64).allclose(expected2, rtol: 1e-6, atol: 1e-7));
        Assert.True(result.narrow(1, 46, 4).isnan().all().item<bool>());
    }

    [Fact]
    public void Compute_FallsBackToTheLoop_WhenHooksDoNotRun()
    {
        manual_seed(14);
        var model = new HooklessNet(6, 3).to(float64);
        var ps = PrunableParameters.Discover(model);
        var x = randn(4, 6, float64);
        var y = Labels(4, 3, 6);
        model.eval();
        Assert.Null(PerSampleGradients.TryComputeFast(model, ps, x, y));
        using var g = PerSampleGradients.Compute(model, ps, x, y);
        using var loop = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        AssertClose(loop, g, 1e-12);
    }

    [Fact]
    public void Compute_UsesEvalMode_AndRestoresTheTrainingMode()
    {
        manual_seed(15);
        var model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
            nn.Linear(3 * 4 * 4, 3)).to(float64);
        var ps = PrunableParameters.Discover(model);
        var x = randn(6, 1, 6, 6, float64);
        var y = Labels(6, 3, 7);
        model.train();
        using var g = PerSampleGradients.Compute(model, ps, x, y);
        Assert.True(model.training);
        // Row b depends on sample b only: computing it alone gives the same row.
        using var single = PerSampleGradients.Compute(model, ps, x.narrow(0, 2, 1), y.narrow(0, 2, 1));
        AssertClose(single[0], g[2], 1e-10);
        model.eval();
        using var evalLoop = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        Assert.False(model.training);
        AssertClose(evalLoop, g, 1e-10);
        // No parameter gradient is left behind.
        Assert.All(ps, p => Assert.True(p.Weight.grad is null || p.Weight.grad.abs().sum().item<double>() == 0));
    }

    [Fact]
    public void Compute_RejectsMismatchedInputsAndLabels()
    {
        var model = TestModels.TinyMlp(inputs: 6, classes: 2);
        var ps = PrunableParameters.Discover(model);
        Assert.Throws<ArgumentException>(() => PerSampleGradients.Compute(model, ps, randn(4, 6), zeros(3, int64)));
    }
}
