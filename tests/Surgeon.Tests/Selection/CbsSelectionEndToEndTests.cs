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
        var data = TestModels.RandomImages(160, 1, 6, 6, 4, seed: 21);
        manual_seed(7);
        var model = new MLPNet(36, 4, 0.3); // 36→12→6→4 without biases: 432 + 72 + 24 = 528 weights
        TrainingLoop.Train(new TrainOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Seed = 1 }, model, data, null);
        var layers = model.named_parameters().Select(p => (Rows: (int)p.parameter.shape[0], Cols: (int)p.parameter.shape[1],
            Values: p.parameter.detach().data<float>().ToArray().Select(v => (double)v).ToArray())).ToArray();
        var w = layers.SelectMany(l => l.Values).ToArray();
        Assert.Equal(528, w.Length);

        var evaluated = new List<CbsEvaluatedMask>();
        var selection = new CbsSelection { OnMaskEvaluated = evaluated.Add };
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

        // Each loss CBS-S used is the real loss of its mask (float32 forward passes against float64 here).
        var real = evaluated.Select(e => MeanCrossEntropy(data, layers, e.Pruned)).ToArray();
        for (int i = 0; i < evaluated.Count; i++)
            Assert.True(Math.Abs(evaluated[i].Loss - real[i]) <= 1e-5 * Math.Max(1, real[i]),
                $"{evaluated[i].Stage} {evaluated[i].Index}: CBS-S used loss {evaluated[i].Loss:R}, the real loss is {real[i]:R}");
        double spread = real.Max() - real.Min();
        Assert.True(spread > 1e-3, $"the evaluated masks' losses differ by only {spread:E2}: the test would not tell them apart");

        // The returned mask is one of them, and none has a lower real loss.
        int at = evaluated.FindIndex(e => e.Pruned.SequenceEqual(returned));
        Assert.True(at >= 0, "the returned mask is none of the masks CBS-S scored");
        Assert.True(real[at] <= real.Min() + 1e-6, $"returned {evaluated[at].Stage} {evaluated[at].Index} (real loss {real[at]:G6}); the lowest is {real.Min():G6}");
        output.WriteLine($"{starts.Count} starts (real loss {real.Take(8).Min():G5}–{real.Take(8).Max():G5}), {iterations.Count} iterations " +
            $"(real loss {string.Join(", ", real.Skip(8).Select(l => l.ToString("G5")))}); returned {evaluated[at].Stage} {evaluated[at].Index}, loss {real[at]:G6}");
    }

    /// <summary>Mean cross-entropy over every sample of a bias-free ReLU MLP with the pruned weights zeroed, in float64:
    /// inputs normalised from the raw bytes, each layer a loop of multiply-adds, −log softmax by log-sum-exp.</summary>
    private static double MeanCrossEntropy(ImageDataset data, (int Rows, int Cols, double[] Values)[] layers, bool[] pruned)
    {
        int features = data.Channels * data.Height * data.Width;
        double mean = data.Means[0], std = data.Stds[0];
        double total = 0;
        for (int n = 0; n < data.Count; n++)
        {
            var x = new double[features];
            for (int j = 0; j < features; j++)
                x[j] = (data.Pixels[n * features + j] / 255.0 - mean) / std;
            int offset = 0;
            for (int l = 0; l < layers.Length; l++)
            {
                var (rows, cols, values) = layers[l];
                var y = new double[rows];
                for (int o = 0; o < rows; o++)
                {
                    double sum = 0;
                    for (int i = 0; i < cols; i++)
                        if (!pruned[offset + o * cols + i])
                            sum += values[o * cols + i] * x[i];
                    y[o] = l < layers.Length - 1 ? Math.Max(0, sum) : sum;
                }
                offset += rows * cols;
                x = y;
            }
            double max = x.Max();
            double logSumExp = max + Math.Log(x.Sum(z => Math.Exp(z - max)));
            total += logSumExp - x[data.Labels[n]];
        }
        return total / data.Count;
    }
}
