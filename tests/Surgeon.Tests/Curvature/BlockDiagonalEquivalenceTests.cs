using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Pruning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

/// <summary>
/// When the layers of a model are statistically independent — here no sample has a gradient in both — the empirical
/// Fisher is exactly block-diagonal by layer, so one block per layer must give the same masks and weights as one
/// block for the whole model, for every curvature method.
/// </summary>
public class BlockDiagonalEquivalenceTests
{
    /// <summary>logits = A·relu(x[0..4]) + B·relu(x[4..8]): two layers, each fed by its own half of the input.</summary>
    private sealed class TwoBranchNet : nn.Module<Tensor, Tensor>
    {
        private readonly Linear a = nn.Linear(4, 3, hasBias: false);
        private readonly Linear b = nn.Linear(4, 3, hasBias: false);

        public TwoBranchNet() : base(nameof(TwoBranchNet)) => RegisterComponents();

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var x = input.flatten(1);
            return a.call(nn.functional.relu(x.narrow(1, 0, 4))).add(b.call(nn.functional.relu(x.narrow(1, 4, 4))))
                .MoveToOuterDisposeScope();
        }
    }

    /// <summary>
    /// Even samples light only the first half of the input, odd ones only the second: pixel 0 normalises to −1, which
    /// ReLU turns into an exact 0, so the other layer's per-sample gradient is exactly zero.
    /// </summary>
    private static ImageDataset HalfLitImages(int n, int seed)
    {
        var rng = new Random(seed);
        var labels = new byte[n];
        var pixels = new byte[n * 8];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (byte)rng.Next(3);
            int lit = i % 2 == 0 ? 0 : 4;
            for (int p = 0; p < 4; p++)
                pixels[i * 8 + lit + p] = (byte)(100 + rng.Next(156) * (p % 3 == labels[i] ? 1 : 0) / 2 + rng.Next(40));
        }
        return new ImageDataset("half-lit", pixels, labels, 1, 1, 8, 3, 0.3f, 0.3f);
    }

    [Theory]
    [InlineData("wf")]
    [InlineData("wf-s")]
    [InlineData("cbs-s")]
    [InlineData("cbs")]
    [InlineData("mp+cbs-u")]
    public void PerLayerBlocks_EqualTheWholeModelFisher_OnIndependentLayers(string method)
    {
        var data = HalfLitImages(120, seed: 5);
        (bool[] Keep, float[] Weights) Prune(int blockSize)
        {
            manual_seed(11);
            var model = new TwoBranchNet();
            var context = new PruningContext
            {
                Model = model,
                Parameters = PrunableParameters.Discover(model),
                TrainData = data,
                Seed = 3,
                Options = new PruningOptions
                {
                    FisherSamples = 100,
                    Lambda = 1e-3,
                    BlockSize = blockSize,
                    CbsCandidates = 4,
                    CbsLossSamples = 60,
                    CbsRelativeEpsilon = true,
                },
            };
            using var masks = PruningMethods.Get(method).Prune(context, 0.5).Mask!;
            context.ReleaseCache();
            return (masks.Keep.data<bool>().ToArray(), PrunableParameters.Flatten(context.Parameters).data<float>().ToArray());
        }

        var whole = Prune(0);
        var perLayer = Prune(-1);
        Assert.Equal(whole.Keep, perLayer.Keep);
        double norm = Math.Sqrt(whole.Weights.Sum(v => (double)v * v));
        double diff = Math.Sqrt(whole.Weights.Zip(perLayer.Weights, (x, y) => (double)(x - y) * (x - y)).Sum());
        Assert.True(diff <= 1e-5 * norm, $"{method}: weights differ by {diff / norm:E2} (relative)");
    }

    [Fact]
    public void TheConstruction_MakesTheCrossLayerFisherExactlyZero()
    {
        // The premise of the test above, checked directly: no per-sample gradient touches both layers.
        var data = HalfLitImages(40, seed: 5);
        manual_seed(11);
        var model = new TwoBranchNet();
        var parameters = PrunableParameters.Discover(model);
        var (x, y) = data.Batch(Enumerable.Range(0, 40).ToArray());
        using var g = Surgeon.Curvature.PerSampleGradients.Compute(model, parameters, x, y);
        var cross = g.narrow(1, 0, 12).T.matmul(g.narrow(1, 12, 12));
        Assert.True(cross.eq(0).all().item<bool>());
        Assert.True(g.narrow(1, 0, 12).abs().sum().item<float>() > 0 && g.narrow(1, 12, 12).abs().sum().item<float>() > 0);
    }
}
