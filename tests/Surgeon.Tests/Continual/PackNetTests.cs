using Surgeon.Continual;
using static TorchSharp.torch;

namespace Surgeon.Tests.Continual;

/// <summary>
/// PackNet on tiny tasks: task 1's logits are bit-identical after later tasks; each task owns a disjoint set of weights,
/// exactly ⌊fraction·n⌋ of the weights it took are freed per layer (the smallest magnitudes, checked by sorting the
/// values after pruning by hand), and freed weights are zero.
/// </summary>
public class PackNetTests
{
    [Fact]
    public void Task1LogitsBitIdentical_OwnershipDisjoint_PruneCountsExact()
    {
        var tasks = ContinualTests.TinyTasks(3);
        using var x = tasks[0].Test.Batch(Enumerable.Range(0, 40).ToArray()).Inputs;
        Tensor? afterFirst = null;
        var owned = new List<long[][]>(); // after each task, per layer, how many weights each task 0…3 holds
        var weights1 = new List<Tensor>();
        using var method = new PackNetMethod();
        var result = ContinualRun.Run(method, "permuted-digits", tasks, ContinualTests.Tiny, afterTask: (t, m) =>
        {
            using var _ = no_grad();
            if (t == 0)
            {
                afterFirst = m.Logits(0, x).detach().clone();
                weights1.AddRange(((PackNetMethod)m).Owners.Select(o => o.clone()));
            }
            owned.Add(((PackNetMethod)m).Owners.Select(o => Enumerable.Range(0, 4).Select(k => o.eq(Surgeon.Numerics.HeldScalars.Of(k)).sum().item<long>()).ToArray()).ToArray());
        });
        using (no_grad())
        {
            using var now = method.Logits(0, x);
            Assert.True(now.eq(afterFirst!).all().item<bool>(), "task 1's logits changed after tasks 2 and 3");
        }
        Assert.Equal(0.0, result.FinalBackwardTransfer);

        // Layer sizes 8·16 = 128 and 6·8 = 48. Task 1 takes all and frees half; task 2 takes the free half and frees
        // half of it; task 3 likewise: owned counts (free, task 1, task 2, task 3).
        Assert.Equal([64L, 64, 0, 0], owned[0][0]);
        Assert.Equal([32L, 64, 32, 0], owned[1][0]);
        Assert.Equal([16L, 64, 32, 16], owned[2][0]);
        Assert.Equal([24L, 24, 0, 0], owned[0][1]);
        Assert.Equal([6L, 24, 12, 6], owned[2][1]);
        // Ownership never changes once given: task 1's weights are the same set at the end.
        for (int l = 0; l < 2; l++)
            Assert.True(weights1[l].eq(Surgeon.Numerics.HeldScalars.One).eq(method.Owners[l].eq(Surgeon.Numerics.HeldScalars.One)).all().item<bool>());
        afterFirst!.Dispose();
    }

    [Fact]
    public void Prune_FreesTheSmallestMagnitudesOfTheTask_AndZeroesThem()
    {
        var tasks = ContinualTests.TinyTasks(1);
        // No retraining, so the survivors are the trained values as pruned: every freed weight was no larger in
        // magnitude than every kept one of the same layer, and is exactly zero.
        var options = ContinualTests.Tiny with { RetrainEpochs = 0 };
        using var method = new PackNetMethod();
        ContinualRun.Run(method, "permuted-digits", tasks, options);
        Assert.Equal(2, method.Owners.Count);
        var model = method.Model!;
        for (int l = 0; l < 2; l++)
        {
            var w = model.HiddenWeights[l].detach().flatten().data<float>().ToArray();
            var owner = method.Owners[l].flatten().data<int>().ToArray();
            var freed = Enumerable.Range(0, w.Length).Where(i => owner[i] == 0).ToArray();
            var kept = Enumerable.Range(0, w.Length).Where(i => owner[i] == 1).ToArray();
            Assert.Equal(w.Length / 2, freed.Length);
            Assert.All(freed, i => Assert.Equal(0f, w[i]));
            Assert.True(kept.Min(i => Math.Abs(w[i])) > 0);
        }
    }

    [Fact]
    public void FreeLowest_IsTheLeastScoringSubsetOfTheTasksWeights_BruteForce()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 20; trial++)
        {
            int n = 10;
            var scores = Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray();
            var own = Enumerable.Range(0, n).Select(_ => rng.Next(3) > 0).ToArray();
            var freed = PackNetMethod.FreeLowest(scores, own, 0.5);
            var candidates = Enumerable.Range(0, n).Where(i => own[i]).ToArray();
            int k = candidates.Length / 2;
            Assert.Equal(k, freed.Length);
            Assert.All(freed, i => Assert.True(own[i]));
            // Every k-subset of the task's weights scores at least as much as the one freed.
            double best = double.PositiveInfinity;
            for (int mask = 0; mask < 1 << candidates.Length; mask++)
                if (System.Numerics.BitOperations.PopCount((uint)mask) == k)
                    best = Math.Min(best, Enumerable.Range(0, candidates.Length).Where(b => (mask >> b & 1) == 1).Sum(b => scores[candidates[b]]));
            Assert.Equal(best, freed.Sum(i => scores[i]), 12);
        }
    }
}
