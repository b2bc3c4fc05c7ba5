using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Scoring;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>Global top-k: prune the k = ⌊s·d⌋ lowest-scoring weights over all prunable layers together (the default rule).</summary>
internal sealed class GlobalRule : IRule
{
    public string Name => "global";
    public string Description => "global top-k: prune the lowest scores over all layers together";
    public StageNeeds Needs => StageNeeds.None;
    public bool PrunesFilters => false;

    public RuleOutcome Select(PruningContext context, IScore score, PruneTarget target)
    {
        using var scope = NewDisposeScope();
        var scores = WeightScores.Compute(score, context);
        long count = target.CountOf(PrunableParameters.TotalCount(context.Parameters));
        using var mask = KeepTop(context.Parameters, scores, count, context.Mask);
        return new RuleOutcome(mask.Keep.clone().MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The keep-mask that prunes the <paramref name="pruneCount"/> lowest of <paramref name="scores"/> (flat, in the
    /// order of <paramref name="parameters"/>). Weights already pruned by <paramref name="alreadyPruned"/> stay pruned:
    /// they count toward the target and are removed before any live weight, whatever their score.
    /// </summary>
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
