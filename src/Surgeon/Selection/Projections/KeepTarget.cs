using System.Globalization;

namespace Surgeon.Selection.Projections;

/// <summary>
/// How many groups (weights, filters, columns, channels or tiles) a projection keeps in one layer: a ratio α in (0, 1]
/// of the layer's groups, or a count. A ratio keeps G − ⌊(1 − α)·G⌋ of G groups (pruning ⌊(1 − α)·G⌋, the rounding the
/// sparsity targets use), at least one.
/// </summary>
internal readonly record struct KeepTarget
{
    private KeepTarget(double? ratio, long? count)
    {
        Ratio = ratio;
        Count = count;
    }

    public double? Ratio { get; }
    public long? Count { get; }

    public static KeepTarget OfRatio(double ratio) =>
        ratio > 0 && ratio <= 1
            ? new KeepTarget(ratio, null)
            : throw new SurgeonException($"a keep ratio must be in (0, 1], got {ratio.ToString("G6", CultureInfo.InvariantCulture)}");

    public static KeepTarget OfCount(long count) =>
        count >= 1 ? new KeepTarget(null, count) : throw new SurgeonException($"a projection keeps at least 1 group, got {count}");

    /// <summary>How many of <paramref name="groups"/> groups to keep; <paramref name="what"/> names the layer and structure for errors.</summary>
    public long GroupsToKeep(long groups, string what)
    {
        if (Count is { } count)
            return count <= groups
                ? count
                : throw new SurgeonException($"{what}: keeping {count} groups, but the layer has only {groups}");
        if (Ratio is not { } ratio)
            throw new SurgeonException($"{what}: no keep ratio or count given");
        long pruned = (long)Math.Floor((1 - ratio) * groups + 1e-9);
        return Math.Max(1, groups - pruned);
    }

    public override string ToString() =>
        Count is { } c ? $"keep {c}" : $"keep ratio {Ratio?.ToString("G6", CultureInfo.InvariantCulture)}";
}
