using Surgeon.Numerics;
using Surgeon.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>Global unstructured selection from per-weight scores (higher = kept): prune the lowest ⌊s·d⌋.</summary>
public static class ScoreSelection
{
    /// <summary>
    /// The keep-mask that prunes the ⌊s·d⌋ lowest of <paramref name="scores"/> (flat, in the order of
    /// <paramref name="parameters"/>). Weights already pruned by <paramref name="alreadyPruned"/> stay pruned: they
    /// count toward the target and are removed before any live weight, whatever their score.
    /// </summary>
    public static MaskSet KeepTop(IReadOnlyList<PrunableParameter> parameters, Tensor scores, double sparsity,
        MaskSet? alreadyPruned = null) =>
        KeepTop(parameters, scores, SparsityTarget.PruneCount(sparsity, PrunableParameters.TotalCount(parameters)), alreadyPruned);

    /// <summary>As above with an exact count <paramref name="pruneCount"/> of weights to prune.</summary>
    public static MaskSet KeepTop(IReadOnlyList<PrunableParameter> parameters, Tensor scores, long pruneCount,
        MaskSet? alreadyPruned = null)
    {
        long total = PrunableParameters.TotalCount(parameters);
        if (scores.numel() != total)
            throw new ArgumentException($"{scores.numel()} scores for {total} prunable weights", nameof(scores));
        using var scope = NewDisposeScope();
        var s = scores.detach().flatten().to_type(ScalarType.Float64);
        if (alreadyPruned is not null)
        {
            if (alreadyPruned.Total != total)
                throw new ArgumentException($"mask has {alreadyPruned.Total} entries, the model {total} prunable weights");
            if (alreadyPruned.PrunedCount > pruneCount)
                throw new SurgeonException($"{alreadyPruned.PrunedCount} weights are already pruned, more than the {pruneCount} asked for");
            s = s.masked_fill(alreadyPruned.Keep.logical_not(), HeldScalars.Of(double.NegativeInfinity));
        }
        return new MaskSet(parameters, TopK.PruneLowest(s, pruneCount));
    }
}
