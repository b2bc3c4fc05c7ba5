using System.Globalization;
using Surgeon.Numerics;
using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>Which groups of a layer's F × C·k·k matrix purification weighs: rows (filters, neurons) or columns.</summary>
internal enum PurifiedGroups
{
    Filters,
    Columns,
}

/// <summary>One layer's purification: kept groups before and after, and the weights that went with the removed ones.</summary>
internal sealed record PurifiedLayer(string Name, PurifiedGroups Groups, long KeptBefore, long KeptAfter, long WeightsRemoved);

/// <summary>
/// Network purification (Ma et al., "ResNet Can Be Pruned 60x", arXiv:1905.00136): ADMM does not guarantee that every
/// group it keeps carries weight (after hard pruning and retraining, some kept filters or columns hold next to nothing),
/// so kept groups whose ℓ2 norm fell below a threshold relative to their layer are removed as well. Here a kept group
/// (one with at least one kept weight) g of layer l goes when ‖W_g‖₂ &lt; τ · mean_{h kept in l} ‖W_h‖₂, norms of the
/// masked weights W ⊙ M. The mean of the layer's kept groups is our reading of "relative to the layer" (the paper's
/// exact statistic was not in the sources we had); with τ ≤ 1 a layer always keeps its largest group.
/// </summary>
internal static class NetworkPurification
{
    /// <summary>
    /// The masks with the faint groups removed, applied to the weights (removed weights become exact zeros), and a row
    /// per layer and group kind. Groups are weighed in the order given (filters, then columns on what is left).
    /// </summary>
    /// <param name="threshold">τ in (0, 1].</param>
    public static (MaskSet Masks, IReadOnlyList<PurifiedLayer> Layers) Purify(MaskSet masks, double threshold,
        params PurifiedGroups[] groups)
    {
        if (!(threshold > 0 && threshold <= 1))
            throw new SurgeonException($"the purification threshold τ must be in (0, 1] (relative to the layer's mean kept-group norm), got {threshold.ToString("G6", CultureInfo.InvariantCulture)}");
        if (groups.Length == 0)
            throw new SurgeonException("purification needs filters, columns or both to weigh");
        var rows = new List<PurifiedLayer>();
        using var scope = NewDisposeScope();
        var layerMasks = Enumerable.Range(0, masks.Parameters.Count).Select(i => masks.LayerMask(i).clone()).ToList();
        foreach (var kind in groups.Distinct())
            for (int i = 0; i < masks.Parameters.Count; i++)
            {
                var p = masks.Parameters[i];
                if (p.Shape.Length < 2) continue; // no filters or columns to weigh
                var (mask, row) = PurifyLayer(p.Name, p.Weight, layerMasks[i], threshold, kind);
                layerMasks[i] = mask;
                rows.Add(row);
            }
        var purified = new MaskSet(masks.Parameters, cat(layerMasks.Select(m => m.flatten()).ToList(), 0).cpu());
        purified.Apply();
        return (purified, rows);
    }

    private static (Tensor Mask, PurifiedLayer Row) PurifyLayer(string name, Tensor weight, Tensor mask, double threshold, PurifiedGroups kind)
    {
        long f = weight.shape[0];
        var keep = mask.reshape(f, -1).to(weight.device);
        var w = weight.detach().reshape(f, -1).to_type(ScalarType.Float64).mul(keep.to_type(ScalarType.Float64));
        if (kind == PurifiedGroups.Columns)
        {
            keep = keep.t();
            w = w.t();
        }
        var kept = keep.any(dim: 1).cpu().data<bool>().ToArray();
        var norms = w.Squared().sum(dim: 1).sqrt().cpu().data<double>().ToArray();
        var alive = Enumerable.Range(0, kept.Length).Where(g => kept[g]).ToList();
        if (alive.Count == 0)
            return (mask, new PurifiedLayer(name, kind, 0, 0, 0));
        double cut = threshold * alive.Average(g => norms[g]);
        var faint = alive.Where(g => norms[g] < cut).ToList();
        var stays = Enumerable.Repeat(true, kept.Length).ToArray();
        foreach (int g in faint) stays[g] = false;
        var result = keep.logical_and(tensor(stays, device: keep.device).unsqueeze(1));
        long removed = keep.sum().item<long>() - result.sum().item<long>();
        if (kind == PurifiedGroups.Columns) result = result.t();
        return (result.reshape(mask.shape).cpu(), new PurifiedLayer(name, kind, alive.Count, alive.Count - faint.Count, removed));
    }
}
