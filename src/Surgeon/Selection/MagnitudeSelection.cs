using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// Magnitude pruning: prune the weights with the smallest |w|, either globally over all prunable weights (MP in the
/// CBS paper) or the same fraction of each layer separately (layer-wise magnitude: ⌊s·d_l⌋ or ⌊s·d_l⌋ + 1 of layer l,
/// exactly ⌊s·d⌋ in total; see <see cref="SparsityTarget.PerLayerCounts"/>).
/// </summary>
public sealed class MagnitudeSelection(bool layerWise) : ISelection
{
    public Tensor SelectKeep(PruningContext context, double sparsity)
    {
        using var scope = NewDisposeScope();
        var scores = PrunableParameters.Flatten(context.Parameters).abs();
        long total = scores.numel();
        var sizes = context.Parameters.Select(p => p.Count).ToList();
        var keep = layerWise
            ? TopK.PruneLowestPerSegment(scores, sizes, SparsityTarget.PerLayerCounts(sparsity, sizes))
            : TopK.PruneLowest(scores, SparsityTarget.PruneCount(sparsity, total));
        return keep.MoveToOuterDisposeScope();
    }
}
