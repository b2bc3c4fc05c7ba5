using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Scoring;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// Layer-wise top-k: prune the same fraction of each layer's d_l weights separately, the lowest-scoring in each:
/// ⌊s·d_l⌋ or ⌊s·d_l⌋ + 1 of layer l, exactly ⌊s·d⌋ in total (the rounding spread by largest remainder, see
/// <see cref="SparsityTarget.PerLayerCounts"/>).
/// </summary>
internal sealed class LayerRule : IRule
{
    public string Name => "layer";
    public string Description => "layer-wise top-k: prune the same fraction of each layer, its lowest scores";
    public StageNeeds Needs => StageNeeds.None;
    public bool PrunesFilters => false;

    public RuleOutcome Select(PruningContext context, IScore score, PruneTarget target)
    {
        using var scope = NewDisposeScope();
        var scores = WeightScores.Compute(score, context);
        var lengths = context.Parameters.Select(p => p.Count).ToList();
        var counts = SparsityTarget.PerLayerCounts(target.Sparsity, lengths);
        if (context.Mask is not { } mask)
            return new RuleOutcome(TopK.PruneLowestPerSegment(scores, lengths, counts).MoveToOuterDisposeScope());
        // Weights pruned before go first in their layer and count toward its share (a layer never revives any).
        var s = scores.masked_fill(mask.Keep.logical_not(), HeldScalars.Of(double.NegativeInfinity));
        var parts = new List<Tensor>();
        long offset = 0;
        for (int i = 0; i < lengths.Count; i++)
        {
            long pruned = lengths[i] - mask.LayerMask(i).sum().item<long>();
            long k = Math.Max(pruned, counts[i]);
            parts.Add(TopK.PruneLowest(s.narrow(0, offset, lengths[i]), k));
            offset += lengths[i];
        }
        return new RuleOutcome(cat(parts, 0).MoveToOuterDisposeScope());
    }
}
