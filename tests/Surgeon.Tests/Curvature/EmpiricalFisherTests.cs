using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Progress;
using Surgeon.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

/// <summary>
/// EmpiricalFisher against dense references (explicit GᵀG/N and torch.linalg.inv, float64, d ≤ 300). With float64 G
/// the tolerance is 1e-6 relative; with float32 G (the production dtype) 1e-4.
/// </summary>
public class EmpiricalFisherTests
{
    private static void AssertClose(Tensor expected, Tensor actual, double relative)
    {
        Assert.Equal(expected.shape, actual.shape);
        var e = expected.to(float64);
        double scale = e.norm().item<double>();
        double error = e.sub(actual.to(float64)).norm().item<double>();
        Assert.True(scale > 0, "reference is all zeros");
        Assert.True(error <= relative * scale, $"relative error {error / scale:E3} > {relative:E1}");
    }

    /// <summary>The dense block-diagonal F = GᵀG/N (entries across blocks zeroed), float64.</summary>
    private static Tensor DenseFisher(Tensor g, IReadOnlyList<FisherBlock> blocks)
    {
        var g64 = g.to(float64);
        long n = g.shape[0], d = g.shape[1];
        var f = g64.t().matmul(g64).div(n);
        var mask = zeros(d, d, float64);
        foreach (var b in blocks)
            mask.narrow(0, b.Offset, b.Length).narrow(1, b.Offset, b.Length).fill_(1);
        return f.mul(mask);
    }

    /// <summary>Per-sample-gradient-like data: a few strong directions plus noise, so F is far from λI.</summary>
    private static Tensor RandomG(int n, long d, ScalarType dtype, int seed)
    {
        manual_seed(seed);
        var g = randn(n, 3, float64).matmul(randn(3, d, float64)).add(randn(n, d, float64).mul(0.3)).mul(0.1);
        return g.to(dtype);
    }

    private static IReadOnlyList<FisherBlock> Blocks(string kind, long d) => kind switch
    {
        "whole" => [new FisherBlock(0, d)],
        // Three "layers" of uneven size.
        "layers" => [new FisherBlock(0, d / 2), new FisherBlock(d / 2, d / 3), new FisherBlock(d / 2 + d / 3, d - d / 2 - d / 3)],
        "chunks7" => Enumerable.Range(0, (int)((d + 6) / 7)).Select(i => new FisherBlock(7L * i, Math.Min(7, d - 7L * i))).ToList(),
        _ => throw new ArgumentException(kind),
    };

    private static void CheckAgainstDense(int n, long d, string blockKind, ScalarType dtype, double tolerance, double lambda = 1e-2)
    {
        var g = RandomG(n, d, dtype, seed: n + (int)d);
        var blocks = Blocks(blockKind, d);
        var dense = DenseFisher(g, blocks);
        var damped = dense.add(eye(d, dtype: float64).mul(lambda));
        var inverse = linalg.inv(damped);
        using var fisher = new EmpiricalFisher(g.clone(), lambda, blocks);
        Assert.Equal(n, fisher.N);
        Assert.Equal(d, fisher.D);

        manual_seed(99);
        var v = randn(d, float64);
        var v2 = randn(d, 3, float64);
        AssertClose(dense.matmul(v), fisher.Times(v.to(dtype)), tolerance);
        AssertClose(dense.matmul(v2), fisher.Times(v2.to(dtype)), tolerance);
        AssertClose(dense.diagonal(), fisher.Diagonal(), tolerance);
        AssertClose(inverse.matmul(v), fisher.InverseTimes(v.to(dtype)), tolerance);
        AssertClose(inverse.matmul(v2), fisher.InverseTimes(v2.to(dtype)), tolerance);
        AssertClose(inverse.matmul(v), fisher.InverseTimes(v.to(dtype)), tolerance); // cached factors give the same
        AssertClose(inverse.diagonal(), fisher.InverseDiagonal(), tolerance);
        double fscale = dense.abs().max().item<double>();
        foreach (var (i, j) in new (long, long)[] { (0, 0), (0, 1), (3, d - 1), (d - 1, d - 2), (d / 2, 5), (6, 7), (7, 13) })
            Assert.True(Math.Abs(dense[i, j].item<double>() - fisher.Entry(i, j)) <= tolerance * fscale,
                $"Entry({i}, {j}) = {fisher.Entry(i, j)}, expected {dense[i, j].item<double>()}");
    }

    [Theory]
    [InlineData("whole")]
    [InlineData("layers")]
    [InlineData("chunks7")]
    public void Woodbury_MoreWeightsThanSamples_MatchesDense(string blocks) =>
        CheckAgainstDense(n: 40, d: 300, blocks, float64, 1e-6);

    [Theory]
    [InlineData("whole")]
    [InlineData("layers")]
    [InlineData("chunks7")]
    public void DenseCholesky_AtMostAsManyWeightsAsSamples_MatchesDense(string blocks) =>
        CheckAgainstDense(n: 150, d: 120, blocks, float64, 1e-6);

    [Fact]
    public void MixedForms_BlocksOnBothSidesOfN_MatchDense() =>
        CheckAgainstDense(n: 60, d: 200, "layers", float64, 1e-6); // blocks of 100 (Woodbury), 66 and 34 (dense)

    [Theory]
    [InlineData(40, 300)]
    [InlineData(150, 120)]
    public void Float32_MatchesDense_To1e4(int n, int d) =>
        CheckAgainstDense(n, d, "whole", float32, 1e-4, lambda: 1e-3);

    [Fact]
    public void MakeBlocks_WholePerLayerAndChunks()
    {
        var model = TestModels.TinyMlp(inputs: 10, classes: 3, width: 0.2); // 10→8→4→3: 80, 32, 12
        var ps = PrunableParameters.Discover(model);
        Assert.Equal([new FisherBlock(0, 124)], EmpiricalFisher.MakeBlocks(ps, 0));
        Assert.Equal([new FisherBlock(0, 80), new FisherBlock(80, 32), new FisherBlock(112, 12)], EmpiricalFisher.MakeBlocks(ps, -1));
        var chunks = EmpiricalFisher.MakeBlocks(ps, 50);
        Assert.Equal([new FisherBlock(0, 50), new FisherBlock(50, 50), new FisherBlock(100, 24)], chunks);
        Assert.Throws<SurgeonException>(() => EmpiricalFisher.MakeBlocks(ps, -2));
    }

    [Fact]
    public void Constructor_ValidatesItsArguments()
    {
        Assert.Throws<ArgumentException>(() => new EmpiricalFisher(zeros(4, 10), 1e-3, [new FisherBlock(0, 9)]));
        Assert.Throws<ArgumentException>(() => new EmpiricalFisher(zeros(4, 10), 1e-3, [new FisherBlock(0, 5), new FisherBlock(6, 4)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmpiricalFisher(zeros(4, 10), 0, [new FisherBlock(0, 10)]));
        Assert.Throws<ArgumentException>(() => new EmpiricalFisher(zeros(40), 1e-3, [new FisherBlock(0, 40)]));
        Assert.Throws<ArgumentException>(() => new EmpiricalFisher(zeros(new long[] { 4, 10 }, int32), 1e-3, [new FisherBlock(0, 10)]));
    }

    [Fact]
    public void FromData_WithTwoExamplesPerSample_IsTheMeanOfPairsOfLoopGradients()
    {
        var model = TestModels.TinyMlp(inputs: 12, classes: 3, width: 0.2);
        var ps = PrunableParameters.Discover(model);
        var data = TestModels.RandomImages(60, 1, 3, 4, 3);
        const int samples = 20, seed = 7;
        using var fisher = EmpiricalFisher.FromData(model, ps, data, samples, examplesPerSample: 2, seed, lambda: 1e-3,
            blockSize: -1, CPU, NullProgress.Instance);
        var idx = data.RandomSubset(samples * 2, seed);
        var (x, y) = data.Batch(idx);
        var rows = PerSampleGradients.ComputeByLoop(model, ps, x, y);
        var expected = rows.reshape(samples, 2, -1).mean([1]);
        Assert.Equal(ScalarType.Float32, fisher.G.dtype);
        AssertClose(expected, fisher.G, 1e-5);
        Assert.Equal(3, fisher.Blocks.Count);
        Assert.Equal(1e-3, fisher.Lambda);
    }

    /// <summary>A conv model's per-sample gradients come in batches of at most ConvGradientBatch examples: with more
    /// samples than two such batches (and a remainder) G still equals the per-sample loop's rows, in order.</summary>
    [Fact]
    public void GradientMatrix_OfAConvModelInSeveralSmallBatches_IsTheLoopsRows()
    {
        var model = Models.ConvModels.Create("resnet20", [1, 8, 8], width: 0.25, classes: 3, seed: 2);
        Models.ConvModels.RandomiseNorms(model);
        model.eval();
        var ps = PrunableParameters.Discover(model, PrunableSet.Paper);
        int samples = 2 * EmpiricalFisher.ConvGradientBatch + 7;
        var data = TestModels.RandomImages(samples + 10, 1, 8, 8, 3, seed: 5);
        Assert.Equal(EmpiricalFisher.ConvGradientBatch, EmpiricalFisher.GradientBatchExamples(PrunableParameters.TotalCount(ps), 1, convolutions: true));
        var g = EmpiricalFisher.GradientMatrix(model, ps, data, samples, 1, seed: 3, CPU, NullProgress.Instance);
        var (x, y) = data.Batch(data.RandomSubset(samples, 3));
        AssertClose(PerSampleGradients.ComputeByLoop(model, ps, x, y), g, 1e-5);
    }

    [Fact]
    public void FromData_RefusesADatasetThatIsTooSmall_NamingTheNumbers()
    {
        var model = TestModels.TinyMlp(inputs: 12, classes: 3, width: 0.2);
        var ps = PrunableParameters.Discover(model);
        var data = TestModels.RandomImages(30, 1, 3, 4, 3);
        var e = Assert.Throws<SurgeonException>(() => EmpiricalFisher.FromData(model, ps, data, 20, 2, 0, 1e-3, 0, CPU,
            NullProgress.Instance));
        Assert.Contains("40", e.Message);
        Assert.Contains("30", e.Message);
        Assert.Contains("at most 15 samples", e.Message);
    }

    [Fact]
    public void EstimateBytes_CountsGAndTheFactors_AndTheMemoryCheckRefusesTooMuch()
    {
        var whole = new[] { new FisherBlock(0, 32360) };
        long est = EmpiricalFisher.EstimateBytes(10000, 32360, whole);
        // G: 10,000 × 32,360 float32; the factor, 10,000² float64; the Gram transient of the largest block, 10,000²
        // float32 + float64; the N×4,096 float64 work matrix; four float64 vectors of length d.
        Assert.Equal(4L * 10_000 * 32_360 + 8L * 10_000 * 10_000 + 12L * 10_000 * 10_000 + 8L * 10_000 * 4_096 + 8L * 32_360 * 4, est);
        var chunks = Enumerable.Range(0, 32).Select(i => new FisherBlock(1000L * i, Math.Min(1000, 32360 - 1000L * i))).ToArray();
        Assert.True(EmpiricalFisher.EstimateBytes(10000, 32360, chunks) < est);

        // A Fisher far bigger than any machine: refused before allocating, with advice.
        var model = nn.Sequential(nn.Linear(4000, 4000, hasBias: false));
        var ps = PrunableParameters.Discover(model);
        var data = TestModels.RandomImages(60000, 1, 1, 1, 3);
        var e = Assert.Throws<SurgeonException>(() => EmpiricalFisher.FromData(model, ps, data, 60000, 1, 0, 1e-3, 0, CPU,
            NullProgress.Instance));
        Assert.Contains("GB", e.Message);
        Assert.Contains("samples", e.Message);
    }

    [Fact]
    public void Results_SurviveTheCallersDisposeScope()
    {
        var g = RandomG(30, 80, float32, 3);
        using var fisher = new EmpiricalFisher(g, 1e-3, [new FisherBlock(0, 80)]);
        using (var scope = NewDisposeScope())
            fisher.InverseTimes(ones(80)); // factor created inside a scope that then ends
        using var again = fisher.InverseTimes(ones(80));
        Assert.Equal(80, again.shape[0]);
        using var diag = fisher.InverseDiagonal();
        Assert.True(diag.gt(0).all().item<bool>());
    }
}
