using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// The one exact step every projection shares: given the weight's entries arranged as [G, m] (row g = the entries of
/// group g), keep the k rows with the largest squared ℓ2 norm. Norms are summed in float64, so the order is not an
/// artefact of float32 rounding.
/// </summary>
internal static class GroupTopK
{
    /// <summary>A bool vector of G entries, true for the k kept groups.</summary>
    public static Tensor Keep(Tensor groups, long k)
    {
        using var scope = NewDisposeScope();
        long count = groups.shape[0];
        if (k < 1 || k > count)
            throw new ArgumentOutOfRangeException(nameof(k), $"keeping {k} of {count} groups");
        var norms = groups.detach().to_type(ScalarType.Float64).Squared().sum(dim: 1);
        // Stable descending sort: equal norms keep the lower index first.
        var (_, order) = norms.sort(dim: 0, descending: true, stable: true);
        var kept = order.narrow(0, 0, k).cpu().data<long>().ToArray();
        var keep = new bool[count];
        foreach (long g in kept) keep[g] = true;
        return tensor(keep, device: groups.device).MoveToOuterDisposeScope();
    }
}
