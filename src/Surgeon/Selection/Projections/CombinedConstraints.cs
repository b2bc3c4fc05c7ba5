using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Several structures at once, e.g. filter + column pruning (Ma et al., arXiv:1905.00136): W_i must lie in
/// S_filter ∩ S_column. The projection onto the intersection has no closed form (choosing rows and columns together is
/// a combinatorial problem), so ADMM keeps one auxiliary Z and one dual U per set: the W-step minimises
/// f(W) + Σ_j ρ_j/2 ‖W − Z_j + U_j‖², each Z-step is that set's own projection, Z_j = Π_{S_j}(W + U_j), and each dual
/// step U_j += W − Z_j. Hard pruning then keeps the entries that every Z_j keeps: the AND of the masks, which lies in
/// every S_j (removing entries from a set's support keeps it in the set). It is not Π onto the intersection in general.
/// </summary>
internal static class CombinedConstraints
{
    /// <summary>The entries every mask keeps.</summary>
    public static Tensor HardPruneMask(IReadOnlyList<Tensor> masks)
    {
        if (masks.Count == 0)
            throw new ArgumentException("no masks to combine", nameof(masks));
        using var scope = NewDisposeScope();
        var all = masks[0].to_type(ScalarType.Bool);
        foreach (var m in masks.Skip(1))
        {
            if (!m.shape.SequenceEqual(all.shape))
                throw new ArgumentException($"masks of shapes [{string.Join(", ", all.shape)}] and [{string.Join(", ", m.shape)}] do not combine", nameof(masks));
            all = all.logical_and(m.to_type(ScalarType.Bool));
        }
        return all.MoveToOuterDisposeScope();
    }
}
