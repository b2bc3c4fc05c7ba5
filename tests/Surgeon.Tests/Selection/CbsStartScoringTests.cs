using Surgeon.Compression;
using Surgeon.Selection;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>
/// CBS-S's cheaper scoring (issue 25): the successive-halving pick of the randomised starts against the same rule run by
/// a plain loop over per-sample losses computed by hand in float64, and the swap search's early stop against the
/// exhaustive path (same masks, same losses, same result).
/// </summary>
public class CbsStartScoringTests(ITestOutputHelper output)
{
    private static PruningContext Context(Surgeon.Data.ImageDataset data, nn.Module<Tensor, Tensor> model, int seed, PruningOptions options) => new()
    {
        Model = model,
        Parameters = PrunableParameters.Discover(model),
        TrainData = data,
        Seed = seed,
        Options = options,
    };

    [Fact]
    public void Rungs_GrowByEtaFromAFewHundredToTheWholeSample()
    {
        Assert.Equal([313, 1250, 5000], new SuccessiveHalving().Rungs(5000));
        Assert.Equal([200], new SuccessiveHalving().Rungs(200));
        Assert.Equal([250, 1000], new SuccessiveHalving().Rungs(1000));
        Assert.Equal([10, 20, 40, 80, 160], new SuccessiveHalving(10, 2).Rungs(160));
        Assert.Equal([5000], SuccessiveHalving.Exhaustive.Rungs(5000));
        // 50 on the first rung, 13 on the second, 4 finalists.
        Assert.Equal(50 + 13 + 4, new SuccessiveHalving().Evaluations(50, 5000));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void HalvingPick_EqualsThePlainLoopOverBruteForceLosses(int seed)
    {
        var (data, model, layers) = HandMlpLoss.TrainedMlp();
        var w = layers.SelectMany(l => l.Values).ToArray();
        const int candidates = 12;
        long k = (long)Math.Floor(0.6 * w.Length);
        var evaluated = new List<CbsEvaluatedMask>();
        var selection = new CbsSelection { OnMaskEvaluated = evaluated.Add, Halving = new SuccessiveHalving(FirstSamples: 10, Eta: 2) };
        var context = Context(data, model, seed, new PruningOptions
        {
            FisherSamples = 100,
            CbsCandidates = candidates,
            CbsLossSamples = data.Count,
            CbsMaxIterations = 0,
        });
        bool[] returned;
        using (var keep = selection.SelectKeep(context, new PruneTarget(0.6)))
            returned = keep.data<bool>().ToArray().Select(x => !x).ToArray();
        context.ReleaseCache();

        // Brute force: every candidate's loss on every sample, in the fixed order, by hand.
        var order = CbsSelection.LossSamples(context);
        var masks = Enumerable.Range(0, candidates).Select(t => RandomizedMagnitude.Pruned(w, k, t)).ToArray();
        var losses = masks.Select(m => HandMlpLoss.PerSample(data, layers, m, order)).ToArray();

        // The rule as a plain loop: at each rung rank the survivors by their sum over its prefix (ties by number) and
        // keep the better half (rounded up); the pick is the best of the last rung.
        int[] rungs = [10, 20, 40, 80, 160];
        var alive = Enumerable.Range(0, candidates).ToList();
        var expectedScores = new List<(int Candidate, int Samples, double Mean)>();
        double smallestGap = double.PositiveInfinity;
        for (int r = 0; r < rungs.Length; r++)
        {
            var sums = alive.ToDictionary(c => c, c => losses[c].Take(rungs[r]).Sum());
            foreach (int c in alive) expectedScores.Add((c, rungs[r], sums[c] / rungs[r]));
            var ranked = alive.OrderBy(c => sums[c]).ThenBy(c => c).ToList();
            int keepCount = r < rungs.Length - 1 ? (alive.Count + 1) / 2 : 1;
            if (keepCount < ranked.Count)
                smallestGap = Math.Min(smallestGap, (sums[ranked[keepCount]] - sums[ranked[keepCount - 1]]) / rungs[r]);
            alive = ranked.Take(keepCount).ToList();
        }
        int expected = alive[0];
        // The float32 forward passes of CBS-S differ from these in the 7th digit: the cuts must be clearer than that.
        Assert.True(smallestGap > 1e-5, $"two candidates at a cut are only {smallestGap:E2} apart: the test cannot tell them apart");

        Assert.Equal(masks[expected], returned);
        var scored = evaluated.Where(e => e.Stage == CbsStage.Start).ToList();
        Assert.Equal(expectedScores.Select(s => (s.Candidate, s.Samples)), scored.Select(e => (e.Index, e.Samples)));
        for (int i = 0; i < scored.Count; i++)
        {
            Assert.Equal(masks[scored[i].Index], scored[i].Pruned);
            Assert.True(Math.Abs(scored[i].Loss - expectedScores[i].Mean) <= 1e-5,
                $"candidate {scored[i].Index} on {scored[i].Samples} samples: {scored[i].Loss:R}, by hand {expectedScores[i].Mean:R}");
        }
        int exhaustivePick = Enumerable.Range(0, candidates).OrderBy(c => losses[c].Sum()).ThenBy(c => c).First();
        output.WriteLine($"seed {seed}: halving picks {expected} after {scored.Count} scores ({scored.Sum(e => e.Samples)} sample evaluations " +
            $"counting prefixes again; exhaustive {candidates * data.Count}); the exhaustive pick is {exhaustivePick}; smallest gap at a cut {smallestGap:E2}");
    }

    [Fact]
    public void EarlyStop_NeverChangesTheSwapSearch()
    {
        var (data, model, _) = HandMlpLoss.TrainedMlp();
        int stopped = 0, iterations = 0;
        foreach (int seed in new[] { 1, 2, 3, 4, 5 })
        {
            // 160 loss samples, fewer than the first halving rung: both scorings pick the start from the same full
            // losses, so any difference would come from the early stop. Batches of 4 give it places to stop.
            var (halving, exhaustive) = (RunScoring(data, model, seed, 6, CbsStartScoring.Halving, new PairedStop()),
                RunScoring(data, model, seed, 6, CbsStartScoring.Exhaustive, new PairedStop()));

            Assert.Equal(exhaustive.Keep, halving.Keep);
            Assert.All(exhaustive.Evaluated, e => Assert.False(e.Stopped));
            Assert.Equal(exhaustive.Evaluated.Count, halving.Evaluated.Count);
            double best = double.PositiveInfinity;
            for (int i = 0; i < exhaustive.Evaluated.Count; i++)
            {
                var (h, e) = (halving.Evaluated[i], exhaustive.Evaluated[i]);
                Assert.Equal((e.Stage, e.Index), (h.Stage, h.Index));
                Assert.Equal(e.Pruned, h.Pruned);
                if (h.Stopped)
                {
                    // The exhaustive path's full loss of the same mask is no better than the best before it.
                    Assert.True(e.Loss >= best, $"seed {seed}, iteration {e.Index}: stopped, but its loss {e.Loss:R} beats {best:R}");
                    Assert.True(h.Samples < e.Samples);
                    stopped++;
                }
                else
                {
                    Assert.Equal(e.Loss, h.Loss); // the same batches summed in the same order
                    Assert.Equal(e.Samples, h.Samples);
                }
                best = Math.Min(best, e.Loss);
                if (e.Stage == CbsStage.Iteration) iterations++;
            }
        }
        output.WriteLine($"{stopped} of {iterations} swap-search evaluations stopped early over 5 seeds; results identical");
        Assert.True(stopped > 0, "no evaluation stopped early: the test compared nothing");
    }

    /// <summary>The swap search's paired stop (a low bar here, z = 2 after 16 samples, so it fires on this small case):
    /// the search takes the course the exhaustive path takes, a mask stops only when the t statistic of its per-sample
    /// losses minus the best mask's, computed by hand in float64 on the samples it saw, exceeds z, and the kept mask is
    /// the lowest by hand of the fully scored ones.</summary>
    [Fact]
    public void PairedStop_InTheSwapSearch_StopsOnlyMasksClearlyWorseThanTheBest()
    {
        var (data, model, layers) = HandMlpLoss.TrainedMlp();
        var race = new PairedStop(Z: 2, MinSamples: 16);
        int pairedStops = 0;
        foreach (int seed in new[] { 1, 2, 3, 4, 5, 6 })
        {
            // One start: the race is the swap search's alone.
            var (halving, exhaustive) = (RunScoring(data, model, seed, 1, CbsStartScoring.Halving, race),
                RunScoring(data, model, seed, 1, CbsStartScoring.Exhaustive, race));
            Assert.Equal(exhaustive.Evaluated.Select(e => e.Pruned), halving.Evaluated.Select(e => e.Pruned)); // same course

            var order = halving.Order;
            bool[]? best = null;
            double[] bestLosses = [];
            foreach (var e in halving.Evaluated)
            {
                var losses = HandMlpLoss.PerSample(data, layers, e.Pruned, order);
                if (e.ClearlyWorse)
                {
                    var d = losses.Take(e.Samples).Zip(bestLosses.Take(e.Samples), (a, b) => a - b).ToArray();
                    double mean = d.Average(), sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (d.Length - 1));
                    Assert.True(e.Samples >= 16 && mean / (sd / Math.Sqrt(d.Length)) > 2 - 1e-6,
                        $"seed {seed}, iteration {e.Index}: stopped after {e.Samples} samples with t = {mean / (sd / Math.Sqrt(d.Length)):G4}");
                    pairedStops++;
                }
                else if (!e.Stopped && (best is null || losses.Sum() < bestLosses.Sum()))
                {
                    best = e.Pruned;
                    bestLosses = losses;
                }
            }
            Assert.Equal(best!.Select(p => !p), halving.Keep);
        }
        output.WriteLine($"{pairedStops} swap-search evaluations stopped by the paired test over 6 seeds");
        Assert.True(pairedStops > 0, "no evaluation stopped by the paired test: the test compared nothing");
    }

    /// <summary>CBS-S on the hand MLP at 0.6 with every loss sample, batches of 4 and a relative ε: its keep mask, every
    /// mask it scored, and the loss-sample order.</summary>
    private static (bool[] Keep, List<CbsEvaluatedMask> Evaluated, int[] Order) RunScoring(Surgeon.Data.ImageDataset data,
        nn.Module<Tensor, Tensor> model, int seed, int candidates, CbsStartScoring scoring, PairedStop race)
    {
        var evaluated = new List<CbsEvaluatedMask>();
        var selection = new CbsSelection { OnMaskEvaluated = evaluated.Add, LossBatchSize = 4, Race = race };
        var context = Context(data, model, seed, new PruningOptions
        {
            FisherSamples = 100,
            CbsCandidates = candidates,
            CbsLossSamples = data.Count,
            CbsRelativeEpsilon = true,
            CbsStartScoring = scoring,
        });
        bool[] keep;
        using (var k = selection.SelectKeep(context, new PruneTarget(0.6)))
            keep = k.data<bool>().ToArray();
        var order = CbsSelection.LossSamples(context);
        context.ReleaseCache();
        return (keep, evaluated, order);
    }
}
