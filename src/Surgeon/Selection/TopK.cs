using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// Turns importance scores into keep-masks: the k lowest-scoring weights are pruned. Ties are broken by position
/// (a stable sort), so the same scores always give the same mask.
/// </summary>
internal static class TopK
{
    /// <summary>Flat keep-mask that prunes the <paramref name="k"/> smallest of <paramref name="scores"/>.</summary>
    public static Tensor PruneLowest(Tensor scores, long k)
    {
        using var scope = NewDisposeScope();
        long n = scores.numel();
        if (k < 0 || k > n)
            throw new ArgumentOutOfRangeException(nameof(k), $"cannot prune {k} of {n} weights");
        var flat = scores.detach().flatten().to(ScalarType.Float64);
        if (flat.isnan().any().item<bool>())
            throw new SurgeonException("importance scores contain NaN (are the weights or gradients NaN?)");
        var keep = ones(n, ScalarType.Bool, device: scores.device);
        if (k > 0)
        {
            var (_, order) = sort(flat, dim: 0, descending: false, stable: true);
            keep.index_put_(tensor(false), order.narrow(0, 0, k));
        }
        return keep.MoveToOuterDisposeScope();
    }

    /// <summary>Prunes <paramref name="counts"/>[l] of segment l separately (layer-wise selection; see
    /// <see cref="Compression.SparsityTarget.PerLayerCounts"/>). Segments are lengths in order.</summary>
    public static Tensor PruneLowestPerSegment(Tensor scores, IReadOnlyList<long> segmentLengths, IReadOnlyList<long> counts)
    {
        if (counts.Count != segmentLengths.Count)
            throw new ArgumentException($"{counts.Count} counts for {segmentLengths.Count} segments", nameof(counts));
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        long offset = 0;
        for (int l = 0; l < segmentLengths.Count; l++)
        {
            long len = segmentLengths[l];
            parts.Add(PruneLowest(scores.flatten().narrow(0, offset, len), counts[l]));
            offset += len;
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }
}
