using Surgeon.Progress;
using Surgeon.Scoring;
using Surgeon.Selection;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>
/// Iterative unstructured pruning with any measure, as SynFlow prescribes (Tanaka et al. 2020, 100 rounds there):
/// n rounds with the exponential schedule — after round k the density is (1−s)^(k/n), so sparsity 1 − (1−s)^(k/n) —
/// each round re-scoring the model with the current mask applied and pruning the lowest live weights globally.
/// Pruned weights stay pruned. The model's weights are restored exactly at the end: the caller applies the result.
/// </summary>
public static class IterativePruning
{
    public static MaskSet Run(nn.Module<Tensor, Tensor> model, IImportanceMeasure measure, ScoringData? data,
        double sparsity, int rounds, IProgressReporter? progress = null)
    {
        SparsityTarget.Validate(sparsity);
        if (rounds < 1)
            throw new SurgeonException($"iterative pruning needs at least one round, got {rounds}");
        var parameters = PrunableParameters.Discover(model);
        long total = PrunableParameters.TotalCount(parameters);
        long finalCount = SparsityTarget.PruneCount(sparsity, total);
        using var snapshot = new ModelSnapshot(model);
        using var task = (progress ?? NullProgress.Instance).Start($"{measure.Name}: {rounds} pruning rounds", rounds);
        var mask = MaskSet.Dense(parameters);
        try
        {
            for (int k = 1; k <= rounds; k++)
            {
                mask.Apply();
                long count = k == rounds
                    ? finalCount
                    : Math.Min(finalCount, (long)Math.Floor((1 - Math.Pow(1 - sparsity, (double)k / rounds)) * total + 1e-9));
                count = Math.Max(count, mask.PrunedCount); // rounding never un-prunes
                using var scope = NewDisposeScope();
                var scores = WeightScores.Compute(measure, model, data, parameters);
                var next = ScoreSelection.KeepTop(parameters, scores, count, mask);
                mask.Dispose();
                mask = next;
                task.Advance();
            }
            return mask;
        }
        catch
        {
            mask.Dispose();
            throw;
        }
        finally
        {
            snapshot.Restore();
        }
    }
}
