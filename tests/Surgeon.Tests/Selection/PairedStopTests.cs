using Surgeon.Selection;

namespace Surgeon.Tests.Selection;

/// <summary>
/// The paired test that ends a CBS-S mask's scoring early (issue 25) and the finalists' race of the successive halving,
/// against plain computations: the t statistic written out with LINQ, and the halving rule run by a loop over a loss
/// matrix with every total known.
/// </summary>
public class PairedStopTests
{
    private static double[] Losses(int seed, int n, double shift, double noise)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Math.Max(0, 1 + shift + noise * (random.NextDouble() - 0.5))).ToArray();
    }

    [Fact]
    public void ClearlyWorse_IsTheMeanDifferenceAboveZStandardErrors()
    {
        var stop = new PairedStop(Z: 4, MinSamples: 50);
        var leader = Losses(1, 400, 0, 2);
        for (int seed = 0; seed < 40; seed++)
        {
            // Each sample's loss is the leader's plus a shift and noise: pairs differ by far less than losses do.
            var random = new Random(100 + seed);
            double shift = (seed - 20) * 0.002;
            var mask = leader.Select(l => l + shift + 0.1 * (random.NextDouble() - 0.5)).ToArray();
            foreach (int n in new[] { 10, 49, 50, 120, 400 })
            {
                var d = mask.Take(n).Zip(leader.Take(n), (a, b) => a - b).ToArray();
                double mean = d.Average();
                double sd = Math.Sqrt(d.Sum(x => (x - mean) * (x - mean)) / (n - 1));
                bool expected = n >= 50 && mean > 0 && mean / (sd / Math.Sqrt(n)) > 4;
                Assert.Equal(expected, stop.ClearlyWorse(mask.AsSpan(0, n), leader.AsSpan(0, n)));
            }
        }
        Assert.False(stop.ClearlyWorse(leader, leader));
        Assert.False(PairedStop.Off.ClearlyWorse(leader.Select(l => l + 1).ToArray(), leader));
        Assert.True(stop.ClearlyWorse(leader.Select(l => l + 1).ToArray(), leader)); // a constant excess: zero spread
    }

    [Fact]
    public void LeaderRace_PicksWhatAPlainLoopPicks_AndStopsOnlyLosers()
    {
        // 30 candidates on 2,000 samples, rungs 125/500/2000 (η = 4): 30 → 8 → 2 finalists. Candidates' losses are one
        // shared per-sample difficulty plus a candidate offset and noise, as masks of one network.
        const int candidates = 30, samples = 2000;
        int pairedStops = 0;
        for (int seed = 0; seed < 10; seed++)
        {
            var random = new Random(seed);
            var difficulty = Enumerable.Range(0, samples).Select(_ => 3 * random.NextDouble()).ToArray();
            var losses = Enumerable.Range(0, candidates).Select(c =>
            {
                double offset = 0.02 * random.Next(0, 20);
                return difficulty.Select(x => x + offset + 0.3 * random.NextDouble()).ToArray();
            }).ToArray();
            double Total(int c, int to) => losses[c].Take(to).Sum();

            // The plain loop: rank by prefix sums (ties by number), keep ⌈m/4⌉, the pick is the finalists' lowest total.
            var halving = new SuccessiveHalving(100, 4);
            var rungs = halving.Rungs(samples);
            Assert.Equal([125, 500, 2000], rungs);
            var alive = Enumerable.Range(0, candidates).ToList();
            foreach (int rung in rungs.Take(rungs.Count - 1))
                alive = alive.OrderBy(c => Total(c, rung)).ThenBy(c => c).Take((alive.Count + 3) / 4).ToList();
            int expected = alive.OrderBy(c => Total(c, samples)).ThenBy(c => c).First();

            foreach (var race in new[] { PairedStop.Off, new PairedStop(Z: 4, MinSamples: 100) })
            {
                var stopped = new List<int>();
                var pick = halving.Pick(candidates, samples, call =>
                {
                    bool bound = true;
                    var row = losses[call.Candidate];
                    var leader = call.Leader >= 0 ? new LeaderRace(losses[call.Leader], race) : null;
                    var score = MaskedRealLoss.Accumulate(call.From, call.To, 50, (first, n) => row[first..(first + n)], call.StopAt,
                        (double[])row.Clone(), leader, ref bound);
                    if (score.Stopped) stopped.Add(call.Candidate);
                    if (score.ClearlyWorse) pairedStops++;
                    return score;
                });
                Assert.Equal(expected, pick.Candidate);
                Assert.Equal(Total(expected, samples), pick.LossSum, 9);
                // Only candidates whose whole total is above the pick's stop (on the second rung or the last).
                Assert.All(stopped, c => Assert.True(Total(c, samples) > Total(expected, samples)));
                long plainEvaluations = 30 * 125 + 8 * 375 + 2 * 1500;
                Assert.True(pick.SampleEvaluations <= plainEvaluations);
                if (stopped.Count > 0) Assert.True(pick.SampleEvaluations < plainEvaluations);
            }
        }
        Assert.True(pairedStops > 0, "no candidate stopped by the paired test: the case does not exercise it");
    }
}
