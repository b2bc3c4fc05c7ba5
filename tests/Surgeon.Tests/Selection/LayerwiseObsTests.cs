using Surgeon.Compression;
using Surgeon.Pruning;
using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>OBC against the OBS sequence computed densely from scratch; N:M patterns checked group by group.</summary>
public class LayerwiseObsTests
{
    private static (Tensor W, Tensor H) RandomLayer(int rows, int cols, int samples, int seed)
    {
        var gen = new TorchSharp.torch.Generator((ulong)seed);
        var x = randn(samples, cols, dtype: ScalarType.Float64, generator: gen);
        var w = randn(rows, cols, dtype: ScalarType.Float64, generator: gen);
        var h = x.T.matmul(x).mul(2.0 / samples);
        h = h + eye(cols, dtype: ScalarType.Float64).mul(0.01 * h.diagonal().mean().item<double>());
        return (w, h);
    }

    /// <summary>The least loss increase of removing the set S with the optimal compensation: ½w_Sᵀ((H⁻¹)_SS)⁻¹w_S.</summary>
    private static double RemovalLoss(Tensor hinv, Tensor w, long[] set)
    {
        var s = tensor(set);
        var ws = w.index_select(0, s);
        return 0.5 * ws.dot(linalg.solve(hinv.index_select(0, s).index_select(1, s), ws)).item<double>();
    }

    [Theory]
    [InlineData(4, 9, 7, Obc.ChunkBytes, false)]       // all rows in one chunk, no compaction (width ≤ 16)
    [InlineData(5, 40, 30, 2 * 8 * 40 * 40, false)]     // chunks of 2 rows; the inverses compacted every 5 removals
    [InlineData(5, 40, 30, 2 * 8 * 40 * 40, true)]      // and with weights forced out first (a previous stage's mask)
    public void ObcSequence_EqualsTheGreedyObsSequenceComputedDensely(int rows, int cols, int steps, long chunkBytes, bool withForced)
    {
        var (w, h) = RandomLayer(rows, cols, samples: 60, seed: 1);
        var forced = withForced ? randn(rows, cols, generator: new TorchSharp.torch.Generator(4)).gt(0.8) : null;
        var (weights, order, increase, done) = Obc.Sequence(w, h, steps, forced, chunkBytes: chunkBytes);
        var hinv = linalg.inv(h);
        for (int r = 0; r < rows; r++)
        {
            Assert.Equal(steps, done[r]);
            var row = w[r];
            var set = new List<long>();
            double previous = 0;
            for (int t = 0; t < steps; t++)
            {
                // From scratch: the next weight is the one whose addition to the removed set costs least.
                // Weights forced out go first (the cheapest of them), then any weight.
                var left = Enumerable.Range(0, cols).Where(q => !set.Contains(q)).ToList();
                if (forced is not null && left.Any(q => forced[r, q].item<bool>())) left = left.Where(q => forced[r, q].item<bool>()).ToList();
                var (best, bestLoss) = left
                    .Select(q => (Q: (long)q, Loss: RemovalLoss(hinv, row, [.. set, q]))).MinBy(c => c.Loss);
                Assert.Equal(best, order[r, t]);
                Assert.Equal(bestLoss - previous, increase[r, t], 1e-9);
                set.Add(best);
                previous = bestLoss;
            }
            // The row after the sequence: w − H⁻¹_{:,S}((H⁻¹)_SS)⁻¹w_S, with w_S exactly 0.
            var s = tensor(set.ToArray());
            var expected = row - hinv.index_select(1, s).matmul(linalg.solve(hinv.index_select(0, s).index_select(1, s), row.index_select(0, s)));
            expected.index_fill_(0, s, 0.0);
            double err = (weights[r] - expected).abs().max().item<double>();
            Assert.True(err < 1e-8, $"row {r}: max difference {err}");
            Assert.True(weights[r].index_select(0, s).eq(0).all().item<bool>());
        }
    }

    [Fact]
    public void ObcPrune_PrunesTheCount_AndKeptWeightsAreTheLeastSquaresReconstruction()
    {
        var (w, h) = RandomLayer(rows: 5, cols: 12, samples: 50, seed: 2);
        var (weights, keep) = Obc.Prune(w, h, prune: 37, allowed: null);
        Assert.Equal(37, keep.logical_not().sum().item<long>());
        for (int r = 0; r < 5; r++)
        {
            // Optimality on the kept set: (H(ŵ − w))_U = 0.
            var u = keep[r].nonzero().flatten();
            if (u.numel() == 0) continue;
            var residual = h.matmul(weights[r] - w[r]).index_select(0, u).abs().max().item<double>();
            Assert.True(residual < 1e-9, $"row {r}: gradient on the kept weights {residual}");
        }
        Assert.True(weights.masked_select(keep.logical_not()).eq(0).all().item<bool>());
    }

    /// <summary>Every group of M consecutive weights of every row has at least min(N, group length) zeros in the keep mask.</summary>
    private static void AssertPattern(IReadOnlyList<PrunableParameter> parameters, bool[] keep, int n, int m)
    {
        long offset = 0;
        foreach (var p in parameters)
        {
            long rows = p.Shape[0], cols = p.Count / rows;
            for (long r = 0; r < rows; r++)
                for (long g = 0; g < cols; g += m)
                {
                    long len = Math.Min(m, cols - g);
                    long zeros = 0;
                    for (long i = 0; i < len; i++) if (!keep[offset + r * cols + g + i]) zeros++;
                    Assert.True(zeros >= Math.Min(n, len), $"{p.Name} row {r} group at {g}: {zeros} pruned of {len}");
                }
            offset += p.Count;
        }
    }

    [Theory]
    [InlineData("magnitude@2:4", 2, 4)]
    [InlineData("obc@2:4", 2, 4)]
    [InlineData("sparsegpt@2:4", 2, 4)]
    [InlineData("obc@4:8", 4, 8)]
    [InlineData("sparsegpt@4:8", 4, 8)]
    public void NmMethods_PruneAtLeastNOfEveryGroupOfM(string method, int n, int m)
    {
        var model = TestModels.TinyMlp(inputs: 18, classes: 3, width: 0.3, seed: 5);
        var ctx = new PruningContext
        {
            Model = model,
            Parameters = PrunableParameters.Discover(model),
            TrainData = TestModels.RandomImages(200, 2, 3, 3, 3, seed: 9),
            Seed = 1,
        };
        using var result = PruningMethods.Get(method).Prune(ctx, 0.5);
        var keep = result.Mask!.Keep.data<bool>().ToArray();
        AssertPattern(ctx.Parameters, keep, n, m);
        var flat = PrunableParameters.Flatten(ctx.Parameters);
        Assert.True(flat.isfinite().all().item<bool>());
        Assert.True(flat.masked_select(result.Mask.Keep.logical_not()).eq(0).all().item<bool>());
    }

    [Theory]
    [InlineData("obc")]
    [InlineData("sparsegpt")]
    public void UnstructuredLayerwiseObs_PrunesExactlyKAndBeatsMagnitudeOnReconstruction(string method)
    {
        var model = TestModels.TinyMlp(inputs: 18, classes: 3, width: 0.3, seed: 5);
        var parameters = PrunableParameters.Discover(model);
        var dense = PrunableParameters.Flatten(parameters).clone();
        var ctx = new PruningContext { Model = model, Parameters = parameters, TrainData = TestModels.RandomImages(200, 2, 3, 3, 3, seed: 9), Seed = 1 };
        var data = ctx.RequireScoreData(method);
        var hessians = LayerHessians.Compute(model, parameters, data);
        using var result = PruningMethods.Get(method).Prune(ctx, 0.7);
        long d = PrunableParameters.TotalCount(parameters);
        Assert.Equal((long)Math.Floor(0.7 * d), result.Mask!.PrunedCount);
        // Layer-wise reconstruction error ½δᵀHδ summed over rows, against magnitude pruning with the same per-layer counts.
        var pruned = PrunableParameters.Flatten(parameters);
        long offset = 0;
        double obs = 0, magnitude = 0;
        for (int l = 0; l < parameters.Count; l++)
        {
            var p = parameters[l];
            long rows = p.Shape[0], cols = p.Count / rows;
            var w0 = dense.narrow(0, offset, p.Count).reshape(rows, cols).to(ScalarType.Float64);
            var w1 = pruned.narrow(0, offset, p.Count).reshape(rows, cols).to(ScalarType.Float64);
            long count = result.Mask.Keep.narrow(0, offset, p.Count).logical_not().sum().item<long>();
            var magnitudeKeep = TopK.PruneLowest(w0.abs().flatten(), count).reshape(rows, cols);
            var dm = w0.masked_fill(magnitudeKeep, 0.0).neg();
            var dw = w1 - w0;
            obs += 0.5 * dw.matmul(hessians[l]).mul(dw).sum().item<double>();
            magnitude += 0.5 * dm.matmul(hessians[l]).mul(dm).sum().item<double>();
            offset += p.Count;
        }
        Assert.True(obs < magnitude, $"{method}: reconstruction error {obs} not below magnitude's {magnitude}");
    }
}
