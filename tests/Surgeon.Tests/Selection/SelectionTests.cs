using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Scoring;
using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

public class SelectionTests
{
    private static GroupScores Scores(string name, params double[] s) => new(new FilterGroup(name, s.Length, [$"{name}.weight"], []), s);

    [Fact]
    public void PruneGlobal_RemovesTheLowestScoresAcrossGroups()
    {
        var a = Scores("a", 0.1, 5, 0.2, 0.3);
        var b = Scores("b", 0.05, 0.01, 9);
        var keep = FilterRule.PruneGlobal([a, b], 0.5); // ⌊0.5·7⌋ = 3: b1, b0, a0
        Assert.Equal([1L, 2, 3], keep["a"]);
        Assert.Equal([2L], keep["b"]);
    }

    [Fact]
    public void PruneGlobal_NeverGoesBelowMinKeep_AndSkipsToTheNextLowest()
    {
        // Group b's 3 channels have the lowest scores but b must keep MinKeep = 1.
        var a = Scores("a", 1, 2, 3, 4);
        var b = Scores("b", 0.1, 0.2, 0.3);
        var keep = FilterRule.PruneGlobal([a, b], 0.5); // 3 removals: b0, b1, then a0 (b2 is protected)
        Assert.Equal([1L, 2, 3], keep["a"]);
        Assert.Equal([2L], keep["b"]);
        // Asking for more than the rule allows removes what it can.
        var most = FilterRule.PruneGlobal([a, b], 0.99);
        Assert.Equal([3L], most["a"]);
        Assert.Equal([2L], most["b"]);
    }

    [Fact]
    public void PruneGlobal_OnRandomGroups_KeepsMinKeep_RemovesTheRequestedCount_AndOnlyLowerScores()
    {
        var rng = new Random(17);
        var groups = Enumerable.Range(0, 6)
            .Select(i => Scores($"g{i}", Enumerable.Range(0, rng.Next(2, 60)).Select(_ => rng.NextDouble() * (i + 1)).ToArray()))
            .ToList();
        long total = groups.Sum(g => g.Group.Channels);
        foreach (double p in new[] { 0.1, 0.3, 0.6 })
        {
            var keep = FilterRule.PruneGlobal(groups, p);
            Assert.Equal(total - (long)Math.Floor(p * total), keep.Values.Sum(k => k.Length));
            double maxRemoved = double.NegativeInfinity, minKeptUnprotected = double.PositiveInfinity;
            foreach (var g in groups)
            {
                var kept = keep[g.Group.Name];
                Assert.True(kept.Length >= g.Group.MinKeep);
                Assert.Equal(kept.Order(), kept);
                Assert.Equal(kept.Distinct().Count(), kept.Length);
                for (int c = 0; c < g.Scores.Length; c++)
                {
                    if (!kept.Contains(c)) maxRemoved = Math.Max(maxRemoved, g.Scores[c]);
                    else if (kept.Length > g.Group.MinKeep) minKeptUnprotected = Math.Min(minKeptUnprotected, g.Scores[c]);
                }
            }
            Assert.True(maxRemoved <= minKeptUnprotected, $"p={p}: removed {maxRemoved} while keeping {minKeptUnprotected}");
        }
    }

    [Fact]
    public void PruneGlobal_RejectsBadInput()
    {
        Assert.Throws<SurgeonException>(() => FilterRule.PruneGlobal([Scores("a", 1, 2)], 1.0));
        Assert.Throws<SurgeonException>(() => FilterRule.PruneGlobal([Scores("a", 1, double.NaN)], 0.5));
        Assert.Throws<SurgeonException>(() => FilterRule.PruneGlobal([Scores("a", 1, 2), Scores("a", 3)], 0.5));
    }

    [Fact]
    public void KeepTop_PrunesTheLowestScores_AndKeepsAlreadyPrunedWeightsPruned()
    {
        var model = TestModels.TinyMlp(inputs: 2, classes: 2, width: 0.05); // 4 + 2 + 2 = 8 weights
        var ps = PrunableParameters.Discover(model);
        var scores = tensor(new double[] { 5, 1, 7, 3, 8, 2, 6, 4 });
        using var half = GlobalRule.KeepTop(ps, scores, 4); // 50 % of 8
        Assert.Equal([true, false, true, false, true, false, true, false], half.Keep.data<bool>().ToArray());

        // With weight 4 (score 8, the highest) already pruned, 50 % prunes it plus the three lowest live ones.
        var pruned = ones(8, ScalarType.Bool);
        pruned[4] = tensor(false);
        using var existing = new MaskSet(ps, pruned);
        using var again = GlobalRule.KeepTop(ps, scores, 4, existing);
        Assert.Equal([true, false, true, false, false, false, true, true], again.Keep.data<bool>().ToArray());
    }
}
