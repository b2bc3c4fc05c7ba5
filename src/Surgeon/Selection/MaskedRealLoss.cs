using Surgeon.Compression;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// The real loss on a fixed order of training samples of the model with a mask's pruned weights zeroed (no update), as
/// CBS-S scores its masks: per-sample cross-entropy in eval mode, summed in float64 in the sample order, in batches of
/// <paramref name="batchSize"/>. The weights are restored after every call.
/// </summary>
internal sealed class MaskedRealLoss(PruningContext context, int[] samples, int batchSize)
{
    /// <summary>False once a negative per-sample loss has been seen: then a partial sum bounds nothing and no evaluation stops early.</summary>
    private bool partialSumsBound = true;

    /// <summary>How many samples the order holds.</summary>
    public int Samples => samples.Length;

    /// <summary>
    /// The loss summed over samples [<paramref name="from"/>, <paramref name="to"/>) of the order; stops after the
    /// first batch whose running sum reaches <paramref name="stopAt"/> (then Samples counts the samples summed).
    /// <paramref name="perSample"/>, when given, receives each sample's loss at its position in the order.
    /// With <paramref name="race"/> (which needs <paramref name="perSample"/>, holding this mask's losses on [0, from)
    /// already) it also stops, before the first batch or after any, once the mask is clearly worse than the leader whose
    /// per-sample losses on the whole order are given (<see cref="PairedStop"/>).
    /// </summary>
    public LossSum Sum(bool[] pruned, int from, int to, double stopAt = double.PositiveInfinity, double[]? perSample = null,
        LeaderRace? race = null)
    {
        if (race is not null && perSample is null) throw new ArgumentException("a paired stop needs the per-sample losses", nameof(perSample));
        using var scope = NewDisposeScope();
        var model = context.Model;
        var original = PrunableParameters.Flatten(context.Parameters);
        var keep = tensor(pruned.Select(p => !p).ToArray()).to(original.device);
        PrunableParameters.Assign(context.Parameters, original * keep);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            return Accumulate(from, to, batchSize, (first, len) =>
            {
                using var batchScope = NewDisposeScope();
                var (x, y) = context.TrainData!.Batch(samples.AsSpan(first, len), context.Device);
                return nn.functional.cross_entropy(EvalForward.Logits(model, x), y, reduction: nn.Reduction.None)
                    .to(ScalarType.Float64).cpu().data<double>().ToArray();
            }, stopAt, perSample, race, ref partialSumsBound);
        }
        finally
        {
            PrunableParameters.Assign(context.Parameters, original);
            if (wasTraining) model.train();
        }
    }

    /// <summary>
    /// The summing and stopping of <see cref="Sum"/> over per-sample losses from <paramref name="batchLosses"/>(first,
    /// length), batch by batch (public so a bench can replay recorded losses through the same rules).
    /// <paramref name="partialSumsBound"/> turns false for good once a loss is negative or NaN.
    /// </summary>
    public static LossSum Accumulate(int from, int to, int batchSize, Func<int, int, double[]> batchLosses, double stopAt,
        double[]? perSample, LeaderRace? race, ref bool partialSumsBound)
    {
        if (race is not null && from < to && race.ClearlyWorse(perSample!, from)) return new LossSum(0, 0, Stopped: true, ClearlyWorse: true);
        double sum = 0;
        for (int first = from; first < to; first += batchSize)
        {
            int len = Math.Min(batchSize, to - first);
            var losses = batchLosses(first, len);
            if (perSample is not null) losses.CopyTo(perSample, first);
            foreach (double l in losses)
            {
                sum += l;
                if (!(l >= 0)) partialSumsBound = false;
            }
            if (first + len >= to) break;
            if (partialSumsBound && sum >= stopAt) return new LossSum(sum, first + len - from, Stopped: true);
            if (race is not null && race.ClearlyWorse(perSample!, first + len))
                return new LossSum(sum, first + len - from, Stopped: true, ClearlyWorse: true);
        }
        return new LossSum(sum, to - from, Stopped: false);
    }
}

/// <summary>A loss sum over <paramref name="Samples"/> samples; <paramref name="Stopped"/> when cut short, by the bound or,
/// when <paramref name="ClearlyWorse"/>, by the paired test against the leader.</summary>
internal readonly record struct LossSum(double Sum, int Samples, bool Stopped, bool ClearlyWorse = false);

/// <summary>The leader's per-sample losses on the whole sample order and the test a mask is held to against them.</summary>
internal sealed record LeaderRace(double[] Leader, PairedStop Stop)
{
    /// <summary>Whether the mask's losses on the first <paramref name="samples"/> samples are clearly above the leader's.</summary>
    public bool ClearlyWorse(double[] losses, int samples) => Stop.ClearlyWorse(losses.AsSpan(0, samples), Leader.AsSpan(0, samples));
}
