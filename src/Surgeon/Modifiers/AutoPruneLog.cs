namespace Surgeon.Modifiers;

/// <summary>One layer's (or filter group's) AutoPrune units at the end of an epoch: how many, how many pruned.</summary>
internal sealed record AutoPruneLayer(string Name, long Units, long Pruned)
{
    public double Sparsity => Units == 0 ? 0 : (double)Pruned / Units;
}

/// <summary>
/// AutoPrune after one epoch: sparsity per layer and overall (of the units: weights, or filters), and how often masks
/// flipped during the epoch, counted at every optimiser step: 0→1 (a pruned unit whose m turned positive again, the
/// recovery the method allows) and 1→0, each as a fraction of all units.
/// </summary>
internal sealed record AutoPruneEpoch(int Epoch, long Step, IReadOnlyList<AutoPruneLayer> Layers, long Revived, long NewlyPruned)
{
    public long Units => Layers.Sum(l => l.Units);
    public long Pruned => Layers.Sum(l => l.Pruned);
    public double Sparsity => Units == 0 ? 0 : (double)Pruned / Units;
    public double RevivedFraction => Units == 0 ? 0 : (double)Revived / Units;
    public double NewlyPrunedFraction => Units == 0 ? 0 : (double)NewlyPruned / Units;

    /// <summary>The line announced to the loop's observers (the dynamics log's event column).</summary>
    public string Describe() =>
        $"autoprune epoch {Epoch}: sparsity {Sparsity:P2}, flips 0→1 {RevivedFraction:P3}, 1→0 {NewlyPrunedFraction:P3}; " +
        string.Join(", ", Layers.Select(l => $"{l.Name} {l.Sparsity:P1}"));
}
