using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Pruning;
using Surgeon.Selection;
using Surgeon.Update;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>CBS-S against exhaustive search, its swap bookkeeping, and CBS-U against the dense closed form.</summary>
public class CbsTests(ITestOutputHelper output)
{
    private static (EmpiricalFisher Fisher, double[] W) RandomProblem(int n, int d, int seed, double lambda = 1e-3, int blockSize = 0)
    {
        var gen = new TorchSharp.torch.Generator((ulong)seed);
        var g = randn(n, d, dtype: ScalarType.Float64, generator: gen);
        var w = randn(d, dtype: ScalarType.Float64, generator: gen).data<double>().ToArray();
        var blocks = blockSize == 0
            ? [new FisherBlock(0, d)]
            : Enumerable.Range(0, (d + blockSize - 1) / blockSize)
                .Select(b => new FisherBlock(b * blockSize, Math.Min(blockSize, d - b * blockSize))).ToList();
        return (new EmpiricalFisher(g, lambda, blocks), w);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(64)]
    public void DeferredUpdates_AcceptTheSameSwapsAsApplyingEachSwapAtOnce(int blockSize)
    {
        var (fisher, w) = RandomProblem(n: 40, d: 256, seed: 11, blockSize: blockSize);
        var start = RandomizedMagnitude.Pruned(w, 128, candidate: 4);
        var deferred = new SwapSearch(fisher, w, start);
        var eager = new SwapSearch(fisher, w, start);
        int total = 0;
        for (int it = 0; it < 5; it++)
        {
            int a = deferred.Iterate(epsilon: 1e-9, rho: 10, tau: 20);
            int b = eager.IterateApplyingEachSwap(epsilon: 1e-9, rho: 10, tau: 20);
            Assert.Equal(b, a);
            Assert.Equal(eager.Pruned, deferred.Pruned);
            Assert.Equal(eager.F, deferred.F, 1e-9);
            total += a;
            if (a == 0) break;
        }
        output.WriteLine($"{total} swaps, identical in both forms (block size {blockSize})");
        Assert.True(total > 5, "the test needs several swaps");
    }

    private static double F(EmpiricalFisher fisher, double[] w, bool[] pruned)
    {
        var v = tensor(w.Select((x, i) => pruned[i] ? x : 0).ToArray());
        var g = fisher.G.to(ScalarType.Float64);
        var gv = g.matmul(v);
        return gv.dot(gv).item<double>() / fisher.N;
    }

    [Fact]
    public void SwapSearch_NeverWorseThanMagnitude_AndUsuallyOptimal_OnExhaustiveProblems()
    {
        const int d = 12, k = 6, instances = 40;
        int optimal = 0;
        for (int seed = 0; seed < instances; seed++)
        {
            using var scope = NewDisposeScope();
            var (fisher, w) = RandomProblem(n: 8, d, seed);
            var start = RandomizedMagnitude.Pruned(w, k, candidate: 0);
            var search = new SwapSearch(fisher, w, start);
            for (int it = 0; it < 100 && search.Iterate(epsilon: 1e-12, rho: d, tau: d) > 0; it++) { }
            double found = F(fisher, w, search.Pruned), magnitude = F(fisher, w, start);
            double best = double.PositiveInfinity;
            for (int mask = 0; mask < 1 << d; mask++)
            {
                if (System.Numerics.BitOperations.PopCount((uint)mask) != k) continue;
                best = Math.Min(best, F(fisher, w, Enumerable.Range(0, d).Select(i => (mask >> i & 1) == 1).ToArray()));
            }
            Assert.Equal(k, search.Pruned.Count(p => p));
            Assert.True(found <= magnitude + 1e-12, $"seed {seed}: search {found} worse than magnitude {magnitude}");
            if (found <= best * (1 + 1e-9) + 1e-15) optimal++;
        }
        output.WriteLine($"CBS-S swap search reached the exhaustive optimum on {optimal}/{instances} instances (d = {d}, k = {k})");
        Assert.True(optimal >= instances / 2, $"optimal on only {optimal}/{instances}");
    }

    [Fact]
    public void EveryAcceptedSwap_ChangesFByBetaMinusAlphaMinusGamma()
    {
        var (fisher, w) = RandomProblem(n: 10, d: 16, seed: 3);
        var search = new SwapSearch(fisher, w, RandomizedMagnitude.Pruned(w, 8, candidate: 2));
        var rng = new Random(1);
        for (int s = 0; s < 20; s++)
        {
            var inP = Enumerable.Range(0, 16).Where(x => search.Pruned[x]).ToArray();
            var outP = Enumerable.Range(0, 16).Where(x => !search.Pruned[x]).ToArray();
            int i = inP[rng.Next(inP.Length)], j = outP[rng.Next(outP.Length)];
            double predicted = search.Beta(j) - search.Alpha(i) - 2 * w[i] * fisher.Entry(i, j) * w[j];
            double before = search.Recompute();
            search.Swap(i, j, predicted);
            double after = search.Recompute();
            Assert.Equal(after - before, predicted, 1e-9);
            Assert.Equal(after, search.F, 1e-9);
        }
    }

    [Theory]
    [InlineData(0)]    // one block
    [InlineData(70)]   // blocks of 70: swaps move weights between blocks
    public void AlphaBetaBookkeeping_AfterABatchOfSwaps_EqualsAFreshComputation(int blockSize)
    {
        var (fisher, w) = RandomProblem(n: 30, d: 200, seed: 5, blockSize: blockSize);
        var search = new SwapSearch(fisher, w, RandomizedMagnitude.Pruned(w, 120, candidate: 3));
        int swaps = search.Iterate(epsilon: 0, rho: 10, tau: 20);
        Assert.True(swaps > 1, "the test needs several swaps");
        var fresh = search.FreshU();
        for (int t = 0; t < fresh.Length; t++)
            Assert.Equal(fresh[t], search.U[t], 1e-9);
        var check = new SwapSearch(fisher, w, search.Pruned);
        for (int t = 0; t < w.Length; t++)
        {
            Assert.Equal(check.Alpha(t), search.Alpha(t), 1e-9);
            Assert.Equal(check.Beta(t), search.Beta(t), 1e-9);
        }
        Assert.Equal(search.Recompute(), search.F, 1e-9);
    }

    [Fact]
    public void RandomizedMagnitude_PrunesExactlyK()
    {
        var w = Enumerable.Range(0, 1000).Select(i => Math.Sin(i * 1.3)).ToArray();
        for (int t = 0; t < 5; t++)
            Assert.Equal(978, RandomizedMagnitude.Pruned(w, 978, t).Count(p => p));
        var mag = RandomizedMagnitude.Pruned(w, 500, 0);
        double threshold = w.Select(Math.Abs).Order().ElementAt(499);
        Assert.All(Enumerable.Range(0, 1000).Where(i => mag[i]), i => Assert.True(Math.Abs(w[i]) <= threshold));
    }

    /// <summary>The masks equal the definition written plainly with LINQ (shuffle with seed t, ⌊√d⌋ chunks, each chunk's
    /// smallest |w| with ties to the lower index), on weights with many ties (|w| rounded, both signs).</summary>
    [Theory]
    [InlineData(1000, 0.8)]
    [InlineData(1037, 0.3)]
    [InlineData(40, 0.95)]
    public void RandomizedMagnitude_EqualsThePlainDefinition(int d, double sparsity)
    {
        var w = Enumerable.Range(0, d).Select(i => Math.Round(Math.Sin(i * 1.7) * 8) / 8).ToArray();
        long k = (long)(sparsity * d);
        for (int t = 0; t < 6; t++)
        {
            var expected = new bool[d];
            if (t == 0)
            {
                foreach (int i in Enumerable.Range(0, d).OrderBy(i => Math.Abs(w[i])).ThenBy(i => i).Take((int)k)) expected[i] = true;
            }
            else
            {
                var indices = Enumerable.Range(0, d).ToArray();
                new Random(t).Shuffle(indices);
                int chunks = Math.Min((int)Math.Sqrt(d), 1000);
                var lengths = Enumerable.Range(0, chunks).Select(c => d / chunks + (c < d % chunks ? 1 : 0)).ToArray();
                var counts = lengths.Select(l => k * l / d).ToArray();
                for (int c = 0, left = (int)(k - counts.Sum()); left > 0; c = (c + 1) % chunks)
                    if (counts[c] < lengths[c]) { counts[c]++; left--; }
                for (int c = 0, start = 0; c < chunks; start += lengths[c], c++)
                    foreach (int i in indices.Skip(start).Take(lengths[c]).OrderBy(i => Math.Abs(w[i])).ThenBy(i => i).Take((int)counts[c]))
                        expected[i] = true;
            }
            Assert.Equal(expected, RandomizedMagnitude.Pruned(w, k, t));
        }
    }

    [Theory]
    [InlineData(10, 40, 25, 0)]   // |U| = 15 > N = 10: Woodbury system
    [InlineData(50, 40, 25, 0)]   // |U| = 15 ≤ N: |U|×|U| system
    [InlineData(10, 40, 20, 13)]  // blocks of 13
    public void CbsUpdate_EqualsTheDenseClosedForm(int n, int d, int k, int blockSize)
    {
        var gen = new TorchSharp.torch.Generator(7);
        var g = randn(n, d, dtype: ScalarType.Float64, generator: gen);
        var w = randn(d, dtype: ScalarType.Float64, generator: gen);
        var blocks = blockSize == 0 ? [new FisherBlock(0, d)] : Enumerable.Range(0, (d + blockSize - 1) / blockSize)
            .Select(b => new FisherBlock(b * blockSize, Math.Min(blockSize, d - b * blockSize))).ToList();
        var fisher = new EmpiricalFisher(g, 1e-2, blocks);
        var keep = TopK.PruneLowest(w.abs(), k);
        var updated = CbsUpdate.Apply(fisher, w, keep);

        // Dense: F_λ block-diagonal, δw = −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P.
        var g64 = g.to(ScalarType.Float64);
        var fl = 1e-2 * eye(d, dtype: ScalarType.Float64);
        foreach (var b in blocks)
        {
            var gb = g64.narrow(1, b.Offset, b.Length);
            fl.narrow(0, b.Offset, b.Length).narrow(1, b.Offset, b.Length).add_(gb.T.matmul(gb) / n);
        }
        var inv = linalg.inv(fl);
        var p = keep.logical_not().nonzero().flatten();
        var ep = eye(d, dtype: ScalarType.Float64).index_select(1, p);
        var dw = -inv.matmul(ep).matmul(linalg.inv(ep.T.matmul(inv).matmul(ep))).matmul(w.index_select(0, p));
        var expected = w + dw;
        double err = (updated - expected).norm().item<double>() / expected.norm().item<double>();
        Assert.True(err < 1e-6, $"relative error {err}");
        Assert.True(updated.index_select(0, p).eq(0).all().item<bool>(), "pruned weights are not exactly zero");
    }

    [Fact]
    public void CbsMethod_OnATinyNet_PrunesExactlyKAndIsDeterministic()
    {
        bool[] Run()
        {
            var model = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
            var ctx = new PruningContext
            {
                Model = model,
                Parameters = PrunableParameters.Discover(model),
                TrainData = TestModels.RandomImages(200, 1, 2, 3, 3, seed: 9),
                Seed = 2,
                Options = new PruningOptions { FisherSamples = 50, Lambda = 1e-3, CbsCandidates = 5, CbsLossSamples = 100, CbsRelativeEpsilon = true },
            };
            using var masks = PruningMethods.Get("cbs").Prune(ctx, 0.6).Mask!;
            long d = PrunableParameters.TotalCount(ctx.Parameters);
            Assert.Equal((long)Math.Floor(0.6 * d), masks.PrunedCount);
            var w = PrunableParameters.Flatten(ctx.Parameters);
            Assert.True(w.masked_select(masks.Keep.logical_not()).eq(0).all().item<bool>());
            return masks.Keep.data<bool>().ToArray();
        }
        Assert.Equal(Run(), Run());
    }
}
