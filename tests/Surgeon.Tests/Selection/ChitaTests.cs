using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Pruning;
using Surgeon.Selection;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>CHITA against dense float64 closed forms and exhaustive enumeration of supports.</summary>
public class ChitaTests(ITestOutputHelper output)
{
    private static (EmpiricalFisher Fisher, double[] W) RandomProblem(int n, int d, int seed, double lambda = 1e-2, int blockSize = 0)
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

    /// <summary>F_λ as a dense d×d float64 matrix, zero across blocks.</summary>
    private static Tensor DenseDampedFisher(EmpiricalFisher fisher)
    {
        var g = fisher.G.to(ScalarType.Float64);
        var f = g.T.matmul(g).div(fisher.N);
        var inBlock = zeros(fisher.D, fisher.D, dtype: ScalarType.Bool);
        foreach (var b in fisher.Blocks)
            inBlock.narrow(0, b.Offset, b.Length).narrow(1, b.Offset, b.Length).fill_(true);
        f = f.masked_fill(inBlock.logical_not(), 0);
        return f + eye(fisher.D, dtype: ScalarType.Float64).mul(fisher.Lambda);
    }

    /// <summary>The dense ridge solution on a support: F_λ,SS β_S = (F_λ w̄)_S, β zero elsewhere, and its Q.</summary>
    private static (Tensor Beta, double Q) DenseRidge(Tensor fl, Tensor w, bool[] keep)
    {
        var s = tensor(Enumerable.Range(0, keep.Length).Where(i => keep[i]).Select(i => (long)i).ToArray());
        var beta = zeros_like(w);
        if (s.numel() > 0)
        {
            var fss = fl.index_select(0, s).index_select(1, s);
            var rhs = fl.matmul(w).index_select(0, s);
            beta.index_copy_(0, s, linalg.solve(fss, rhs));
        }
        var d = beta - w;
        return (beta, 0.5 * d.dot(fl.matmul(d)).item<double>());
    }

    [Theory]
    [InlineData(8, 12, 0)]    // more kept weights than samples: the N×N (Woodbury) system
    [InlineData(40, 12, 0)]   // fewer: the |S|×|S| system
    [InlineData(6, 30, 10)]   // three blocks, both systems
    public void Backsolve_EqualsTheDenseRidgeSolve(int n, int d, int blockSize)
    {
        var (fisher, w) = RandomProblem(n, d, seed: 3, blockSize: blockSize);
        var fl = DenseDampedFisher(fisher);
        var wT = tensor(w);
        var rng = new Random(5);
        for (int trial = 0; trial < 5; trial++)
        {
            var keep = Enumerable.Range(0, d).Select(_ => rng.NextDouble() < 0.7).ToArray();
            var beta = RidgeBacksolve.Solve(fisher, wT, tensor(keep));
            var (expected, q) = DenseRidge(fl, wT, keep);
            double err = (beta - expected).abs().max().item<double>();
            Assert.True(err < 1e-8, $"trial {trial}: max |β − dense| = {err}");
            Assert.Equal(q, RidgeBacksolve.Objective(fisher, wT, beta), 1e-9);
            Assert.True(beta.masked_select(tensor(keep).logical_not()).eq(0).all().item<bool>());
        }
    }

    [Theory]
    [InlineData(8, 12, 0)]    // the N×N (Woodbury) system
    [InlineData(40, 12, 0)]   // the |S|×|S| system
    [InlineData(6, 30, 10)]   // three blocks
    public void BacksolveWithTheGradientTerm_EqualsTheDenseSolve(int n, int d, int blockSize)
    {
        var (fisher, w) = RandomProblem(n, d, seed: 11, blockSize: blockSize);
        var fl = DenseDampedFisher(fisher);
        var wT = tensor(w);
        // ḡ by a loop over the samples (rows of G), independent of the solver's 1ᵀG/N shortcut.
        var gbar = zeros(d, dtype: ScalarType.Float64);
        for (int i = 0; i < n; i++) gbar += fisher.G[i].to(ScalarType.Float64);
        gbar /= n;
        var rng = new Random(7);
        for (int trial = 0; trial < 5; trial++)
        {
            var keep = Enumerable.Range(0, d).Select(_ => rng.NextDouble() < 0.7).ToArray();
            if (trial == 0) Array.Fill(keep, true); // nothing pruned: the pure Gauss–Newton step −F_λ⁻¹ḡ
            var s = tensor(Enumerable.Range(0, d).Where(i => keep[i]).Select(i => (long)i).ToArray());
            var expected = zeros_like(wT);
            var fss = fl.index_select(0, s).index_select(1, s);
            var rhs = (fl.matmul(wT) - gbar).index_select(0, s);
            expected.index_copy_(0, s, linalg.solve(fss, rhs));
            var beta = RidgeBacksolve.Solve(fisher, wT, tensor(keep), firstOrder: true);
            double err = (beta - expected).abs().max().item<double>();
            Assert.True(err < 1e-8, $"trial {trial}: max |β − dense| = {err}");
            var diff = expected - wT;
            double q = 0.5 * diff.dot(fl.matmul(diff)).item<double>() + gbar.dot(diff).item<double>();
            Assert.Equal(q, RidgeBacksolve.Objective(fisher, wT, beta, firstOrder: true), 1e-9);
            Assert.True(beta.masked_select(tensor(keep).logical_not()).eq(0).all().item<bool>());
            // without the term the solution differs (ḡ of random G is far from 0)
            Assert.True((RidgeBacksolve.Solve(fisher, wT, tensor(keep)) - beta).abs().max().item<double>() > 1e-3);
        }
    }

    [Fact]
    public void Chita_MatchesExhaustiveSearchMostly_AndIsNeverWorseThanTheBacksolvedMagnitudeSupport()
    {
        const int d = 14, keepCount = 5, instances = 40;
        int optimal = 0, ihtOptimal = 0, bsoOptimal = 0;
        for (int seed = 0; seed < instances; seed++)
        {
            using var scope = NewDisposeScope();
            var (fisher, w) = RandomProblem(n: 10, d, seed);
            var fl = DenseDampedFisher(fisher);
            var wT = tensor(w);
            var magnitude = TopK.PruneLowest(wT.abs(), d - keepCount).data<bool>().ToArray();
            var iht = ChitaIht.Solve(fisher, w, magnitude, null, maxIterations: 500);
            var result = ChitaIht.Solve(fisher, w, magnitude, null, maxIterations: 500, swapCandidates: d, maxSwaps: 100);
            Assert.Equal(keepCount, result.Keep.Count(k => k));
            double bso = DenseRidge(fl, wT, magnitude).Q;
            double found = DenseRidge(fl, wT, result.Keep).Q, ihtFound = DenseRidge(fl, wT, iht.Keep).Q;
            Assert.Equal(found, result.Objective, 1e-9);
            Assert.True(found <= bso + 1e-12, $"seed {seed}: CHITA-swap {found} worse than CHITA-BSO {bso}");
            Assert.True(ihtFound <= bso + 1e-12, $"seed {seed}: CHITA {ihtFound} worse than CHITA-BSO {bso}");
            Assert.True(found <= ihtFound + 1e-12, $"seed {seed}: swaps made CHITA worse");
            double best = double.PositiveInfinity;
            for (int mask = 0; mask < 1 << d; mask++)
            {
                if (System.Numerics.BitOperations.PopCount((uint)mask) != keepCount) continue;
                best = Math.Min(best, DenseRidge(fl, wT, Enumerable.Range(0, d).Select(i => (mask >> i & 1) == 1).ToArray()).Q);
            }
            Assert.True(found >= best - 1e-9);
            if (found <= best * (1 + 1e-9) + 1e-12) optimal++;
            if (ihtFound <= best * (1 + 1e-9) + 1e-12) ihtOptimal++;
            if (bso <= best * (1 + 1e-9) + 1e-12) bsoOptimal++;
        }
        output.WriteLine($"exhaustive optimum reached on {instances} instances (d = {d}, k = {keepCount} kept): CHITA-swap {optimal}, CHITA (IHT) {ihtOptimal}, CHITA-BSO {bsoOptimal}");
        Assert.True(optimal >= instances / 2, $"optimal on only {optimal}/{instances}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(50)]
    public void IhtObjective_NeverIncreases(int blockSize)
    {
        var (fisher, w) = RandomProblem(n: 20, d: 200, seed: 7, blockSize: blockSize);
        var magnitude = TopK.PruneLowest(tensor(w).abs(), 160).data<bool>().ToArray();
        var result = ChitaIht.Solve(fisher, w, magnitude, null, maxIterations: 300);
        Assert.True(result.Iterations > 3, "the test needs several IHT steps");
        foreach (var trace in result.BlockObjectives)
            for (int i = 1; i < trace.Count; i++)
                Assert.True(trace[i] <= trace[i - 1] * (1 + 1e-12), $"Q rose from {trace[i - 1]} to {trace[i]} at entry {i}");
        Assert.True(result.Objective < result.StartObjective, $"no progress: {result.StartObjective} → {result.Objective}");
        if (blockSize > 0)
        {
            // Each block keeps the count the global magnitude threshold gave it.
            foreach (var b in fisher.Blocks)
                Assert.Equal(magnitude.Skip((int)b.Offset).Take((int)b.Length).Count(k => k),
                    result.Keep.Skip((int)b.Offset).Take((int)b.Length).Count(k => k));
        }
        output.WriteLine($"block size {blockSize}: {result.Iterations} steps, Q {result.StartObjective:G6} → {result.Objective:G6}");
    }

    /// <summary>IHT on active sets (k ≤ L/5) ends where IHT on the whole block cannot go on: checked densely, a step
    /// H_k(β − η∇Q(β)) of the whole problem at η = 1/λ_max(F_λ) (dense eigenvalues) from CHITA's result does not lower Q
    /// (such a step lowers Q whenever it changes the support, so the support is a fixed point of full IHT); and the result
    /// is never worse than the backsolved magnitude support. The whole-block IHT (no active set) is run beside it and how
    /// often both end on the same support is reported.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(100)]
    public void ActiveSetIht_EndsOnAFixedPointOfWholeBlockIht(int blockSize)
    {
        const int d = 300, instances = 8;
        int sameSupport = 0, activeBetter = 0, wholeBetter = 0;
        for (int seed = 0; seed < instances; seed++)
        {
            using var scope = NewDisposeScope();
            var (fisher, w) = RandomProblem(n: 30, d, seed: 100 + seed, blockSize: blockSize);
            var fl = DenseDampedFisher(fisher);
            var wT = tensor(w);
            var magnitude = TopK.PruneLowest(wT.abs(), 255).data<bool>().ToArray();   // 45 kept: k ≤ L/5 in every block
            var result = ChitaIht.Solve(fisher, w, magnitude, null, maxIterations: 500);
            var whole = ChitaIht.Solve(fisher, w, magnitude, null, maxIterations: 500, activeSet: false);
            Assert.True(result.Profile.ActiveSize > 0, "the test needs the active-set path");
            Assert.Equal(0, whole.Profile.ActiveSize);
            var (beta, q) = DenseRidge(fl, wT, result.Keep);
            Assert.Equal(q, result.Objective, 1e-9);
            Assert.True(q <= DenseRidge(fl, wT, magnitude).Q + 1e-12, $"seed {seed}: worse than CHITA-BSO");
            double eta = 1 / linalg.eigvalsh(fl).max().item<double>();
            var z = beta - fl.matmul(beta - wT).mul(eta);
            var step = zeros_like(z);
            foreach (var b in fisher.Blocks)
            {
                int kb = result.Keep.Skip((int)b.Offset).Take((int)b.Length).Count(k => k);
                var zb = z.narrow(0, b.Offset, b.Length);
                var top = zb.abs().topk(kb).indexes;
                step.narrow(0, b.Offset, b.Length).index_copy_(0, top, zb.index_select(0, top));
            }
            var ds = step - wT;
            double stepQ = 0.5 * ds.dot(fl.matmul(ds)).item<double>();
            Assert.True(stepQ >= q * (1 - 1e-6), $"seed {seed}: a whole-block IHT step lowers Q from {q} to {stepQ}");
            double qWhole = DenseRidge(fl, wT, whole.Keep).Q;
            if (result.Keep.AsSpan().SequenceEqual(whole.Keep)) sameSupport++;
            else if (q < qWhole) activeBetter++;
            else wholeBetter++;
        }
        output.WriteLine($"block size {blockSize}: active-set and whole-block IHT on the same support {sameSupport}/{instances}, " +
            $"active set lower Q {activeBetter}, whole block lower Q {wholeBetter}");
    }

    [Fact]
    public void AlreadyPrunedWeights_StayPruned()
    {
        var (fisher, w) = RandomProblem(n: 10, d: 40, seed: 2);
        var allowed = Enumerable.Range(0, 40).Select(i => i % 3 != 0).ToArray();
        var scores = tensor(w).abs().masked_fill(tensor(allowed).logical_not(), double.NegativeInfinity);
        var start = TopK.PruneLowest(scores, 25).data<bool>().ToArray();
        var result = ChitaIht.Solve(fisher, w, start, allowed, maxIterations: 100);
        Assert.Equal(15, result.Keep.Count(k => k));
        Assert.All(Enumerable.Range(0, 40).Where(i => !allowed[i]), i => Assert.False(result.Keep[i]));
    }

    [Theory]
    [InlineData("chita")]
    [InlineData("chita-bso")]
    [InlineData("chita-swap")]
    public void ChitaMethods_OnATinyNet_PruneExactlyKWithFiniteWeights(string method)
    {
        var model = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        var ctx = new PruningContext
        {
            Model = model,
            Parameters = PrunableParameters.Discover(model),
            TrainData = TestModels.RandomImages(200, 1, 2, 3, 3, seed: 9),
            Seed = 2,
            Options = new PruningOptions { FisherSamples = 50, Lambda = 1e-3 },
        };
        using var masks = PruningMethods.Get(method).Prune(ctx, 0.7).Mask!;
        long d = PrunableParameters.TotalCount(ctx.Parameters);
        Assert.Equal((long)Math.Floor(0.7 * d), masks.PrunedCount);
        var flat = PrunableParameters.Flatten(ctx.Parameters);
        Assert.True(flat.masked_select(masks.Keep.logical_not()).eq(0).all().item<bool>());
        Assert.True(flat.isfinite().all().item<bool>());
    }

    [Fact]
    public void Chita_OnATinyNet_KeepsTheDenseRidgeSolutionOnItsMask()
    {
        // chita's update reuses the backsolve its selection ended with (KnownBacksolve): the weights must still be the
        // ridge solution on the mask, here from the dense float64 closed form.
        var model = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        var ctx = new PruningContext
        {
            Model = model,
            Parameters = PrunableParameters.Discover(model),
            TrainData = TestModels.RandomImages(200, 1, 2, 3, 3, seed: 9),
            Seed = 2,
            Options = new PruningOptions { FisherSamples = 50, Lambda = 1e-3 },
        };
        var w = PrunableParameters.Flatten(ctx.Parameters).to(ScalarType.Float64);
        using var masks = PruningMethods.Get("chita").Prune(ctx, 0.7).Mask!;
        var fisher = FisherProvider.For(ctx, "chita");
        var keep = masks.Keep.flatten().data<bool>().ToArray();
        var expected = DenseRidge(DenseDampedFisher(fisher), w, keep).Beta;
        var actual = PrunableParameters.Flatten(ctx.Parameters).to(ScalarType.Float64);
        double err = (actual - expected).abs().max().item<double>();
        Assert.True(err < 1e-5, $"max |w − dense ridge| = {err}");
        Assert.True((expected - w).abs().max().item<double>() > 1e-3); // the update moved the kept weights
    }

    [Fact]
    public void KnownBacksolve_IsTakenOnlyForTheSameFisherWeightsAndMask_AndOnlyOnce()
    {
        var model = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        var ctx = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model) };
        var (fisher, w) = RandomProblem(n: 4, d: 6, seed: 1);
        var (other, _) = RandomProblem(n: 4, d: 6, seed: 2);
        bool[] keep = [true, false, true, true, false, false];
        double[] beta = [1, 0, 2, 3, 0, 0];
        KnownBacksolve.Store(ctx, fisher, w, keep, beta);
        Assert.Equal(beta, KnownBacksolve.Take(ctx, fisher, w, keep));
        Assert.Null(KnownBacksolve.Take(ctx, fisher, w, keep)); // taken once
        KnownBacksolve.Store(ctx, fisher, w, keep, beta);
        Assert.Null(KnownBacksolve.Take(ctx, other, w, keep));
        KnownBacksolve.Store(ctx, fisher, w, keep, beta);
        Assert.Null(KnownBacksolve.Take(ctx, fisher, w.Select(x => x + 1e-12).ToArray(), keep));
        KnownBacksolve.Store(ctx, fisher, w, keep, beta);
        Assert.Null(KnownBacksolve.Take(ctx, fisher, w, [true, true, true, false, false, false]));
        fisher.Dispose();
        other.Dispose();
    }
}
