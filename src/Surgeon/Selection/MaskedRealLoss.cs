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
    /// </summary>
    public LossSum Sum(bool[] pruned, int from, int to, double stopAt = double.PositiveInfinity, double[]? perSample = null)
    {
        using var scope = NewDisposeScope();
        var model = context.Model;
        var original = PrunableParameters.Flatten(context.Parameters);
        var keep = tensor(pruned.Select(p => !p).ToArray()).to(original.device);
        PrunableParameters.Assign(context.Parameters, original * keep);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            double sum = 0;
            using var noGrad = no_grad();
            for (int first = from; first < to; first += batchSize)
            {
                using var batchScope = NewDisposeScope();
                int len = Math.Min(batchSize, to - first);
                var (x, y) = context.TrainData!.Batch(samples.AsSpan(first, len), context.Device);
                var losses = nn.functional.cross_entropy(EvalForward.Logits(model, x), y, reduction: nn.Reduction.None)
                    .to(ScalarType.Float64).cpu().data<double>().ToArray();
                if (perSample is not null) losses.CopyTo(perSample, first);
                foreach (double l in losses)
                {
                    sum += l;
                    if (!(l >= 0)) partialSumsBound = false;
                }
                if (partialSumsBound && sum >= stopAt && first + len < to) return new LossSum(sum, first + len - from, Stopped: true);
            }
            return new LossSum(sum, to - from, Stopped: false);
        }
        finally
        {
            PrunableParameters.Assign(context.Parameters, original);
            if (wasTraining) model.train();
        }
    }
}

/// <summary>A loss sum over <paramref name="Samples"/> samples; <paramref name="Stopped"/> when cut short by the bound.</summary>
internal readonly record struct LossSum(double Sum, int Samples, bool Stopped);
