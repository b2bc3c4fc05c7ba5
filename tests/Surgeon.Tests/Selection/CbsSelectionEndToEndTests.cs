using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Selection;
using Surgeon.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>
/// CBS-S end to end on a trained 528-weight MLP: every mask it scored by real loss (the randomised starts and the mask
/// after each swap-search iteration) is recorded through <see cref="CbsSelection.OnMaskEvaluated"/> and its loss
/// recomputed here by a plain float64 forward pass written out by hand; the mask CBS-S returns must be the one of
/// lowest real loss among them, and each loss it used must be the real one.
/// </summary>
public class CbsSelectionEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public void ReturnedMask_IsTheEvaluatedMaskOfLowestRealLoss_AndEveryLossItUsedIsTheRealLoss()
    {
        var (data, model, layers) = HandMlpLoss.TrainedMlp();
        var w = layers.SelectMany(l => l.Values).ToArray();
        Assert.Equal(528, w.Length);

        var evaluated = new List<CbsEvaluatedMask>();
        // Batches of 4 give the swap search's early stop (default halving scoring) batch boundaries to stop at; the
        // 160 loss samples are fewer than the first halving rung, so every start is scored on all of them.
        var selection = new CbsSelection { OnMaskEvaluated = evaluated.Add, LossBatchSize = 4 };
        var context = new PruningContext
        {
            Model = model,
            Parameters = PrunableParameters.Discover(model),
            TrainData = data,
            Seed = 3,
            // The real loss on every training sample, so the reference needs no knowledge of CBS-S's sample subset.
            Options = new PruningOptions { FisherSamples = 100, Lambda = 1e-3, CbsCandidates = 8, CbsLossSamples = data.Count, CbsRelativeEpsilon = true },
        };
        bool[] keep;
        using (var keepTensor = selection.SelectKeep(context, new PruneTarget(0.6)))
            keep = keepTensor.data<bool>().ToArray();
        context.ReleaseCache();
        var returned = keep.Select(k => !k).ToArray();
        long prunedCount = (long)Math.Floor(0.6 * 528);

        // Selection only: the weights are back as they were.
        Assert.Equal(w, PrunableParameters.Flatten(context.Parameters).data<float>().ToArray().Select(v => (double)v));

        // What was scored: the 8 starts in order, then iterations 1, 2, … (at least two, so the search took part).
        var starts = evaluated.Where(e => e.Stage == CbsStage.Start).ToList();
        var iterations = evaluated.Where(e => e.Stage == CbsStage.Iteration).ToList();
        Assert.Equal(Enumerable.Range(0, 8), starts.Select(e => e.Index));
        Assert.Equal(Enumerable.Range(1, iterations.Count), iterations.Select(e => e.Index));
        Assert.True(iterations.Count >= 2, $"only {iterations.Count} swap-search iteration(s) were scored");
        Assert.Equal(starts.Concat(iterations), evaluated); // starts first
        Assert.All(evaluated, e => Assert.Equal(prunedCount, e.Pruned.LongCount(p => p)));
        Assert.Equal(prunedCount, returned.LongCount(p => p));
        // Candidate 0 is global magnitude: the k smallest |w| (ties by position).
        var smallest = Enumerable.Range(0, w.Length).OrderBy(i => Math.Abs(w[i])).ThenBy(i => i).Take((int)prunedCount).ToHashSet();
        Assert.Equal(Enumerable.Range(0, w.Length).Select(smallest.Contains), starts[0].Pruned);

        // Each loss CBS-S used is the real loss of its mask over the samples it evaluated (float32 forward passes against
        // float64 here); an evaluation stopped early had reached the best total already, so its full loss is no lower.
        var order = CbsSelection.LossSamples(context);
        Assert.Equal(Enumerable.Range(0, data.Count), order.Order());
        var perSample = evaluated.Select(e => HandMlpLoss.PerSample(data, layers, e.Pruned, order)).ToArray();
        var real = perSample.Select(l => l.Average()).ToArray();
        double bestSoFar = double.PositiveInfinity;
        for (int i = 0; i < evaluated.Count; i++)
        {
            var e = evaluated[i];
            Assert.Equal(e.Stopped ? e.Samples : data.Count, e.Samples);
            double partial = perSample[i].Take(e.Samples).Average();
            Assert.True(Math.Abs(e.Loss - partial) <= 1e-5 * Math.Max(1, partial),
                $"{e.Stage} {e.Index}: CBS-S used loss {e.Loss:R} on {e.Samples} samples, the real loss there is {partial:R}");
            if (e.Stopped)
                Assert.True(e.Samples < data.Count && real[i] >= bestSoFar - 1e-6, $"iteration {e.Index} stopped, real loss {real[i]:R} < best {bestSoFar:R}");
            else
                bestSoFar = Math.Min(bestSoFar, real[i]);
        }
        double spread = real.Max() - real.Min();
        Assert.True(spread > 1e-3, $"the evaluated masks' losses differ by only {spread:E2}: the test would not tell them apart");

        // The returned mask is one of them, and none has a lower real loss.
        int at = evaluated.FindIndex(e => e.Pruned.SequenceEqual(returned));
        Assert.True(at >= 0, "the returned mask is none of the masks CBS-S scored");
        Assert.False(evaluated[at].Stopped);
        Assert.True(real[at] <= real.Min() + 1e-6, $"returned {evaluated[at].Stage} {evaluated[at].Index} (real loss {real[at]:G6}); the lowest is {real.Min():G6}");
        output.WriteLine($"{evaluated.Count(e => e.Stopped)} evaluation(s) stopped early");
        output.WriteLine($"{starts.Count} starts (real loss {real.Take(8).Min():G5}–{real.Take(8).Max():G5}), {iterations.Count} iterations " +
            $"(real loss {string.Join(", ", real.Skip(8).Select(l => l.ToString("G5")))}); returned {evaluated[at].Stage} {evaluated[at].Index}, loss {real[at]:G6}");
    }
}
