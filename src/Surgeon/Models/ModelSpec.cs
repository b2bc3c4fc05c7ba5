namespace Surgeon.Models;

/// <summary>
/// What it takes to rebuild a model: architecture name, input shape (C×H×W), classes, width multiplier, and, for a
/// model whose filters were removed, the channel count of every filter group.
/// </summary>
/// <param name="Channels">Optional channel count per filter group, in <see cref="IStructuredModel.FilterGroups"/>
/// order; when given it overrides the counts derived from <paramref name="Width"/> (a structurally pruned model).</param>
internal sealed record ModelSpec(string Architecture, int[] InputShape, int NumClasses, double Width = 1.0, int[]? Channels = null)
{
    public string InputShapeText => string.Join('x', InputShape);

    /// <summary>
    /// The channel count of each filter group: <see cref="Channels"/> when given (checked against the architecture's
    /// group count), otherwise each base count scaled by <see cref="Width"/>, rounded, at least 1.
    /// </summary>
    public int[] ResolveChannels(IReadOnlyList<int> baseCounts)
    {
        if (Channels is null)
            return baseCounts.Select(c => Math.Max(1, (int)Math.Round(c * Width))).ToArray();
        if (Channels.Length != baseCounts.Count)
            throw new SurgeonException(
                $"{Architecture}: the spec lists {Channels.Length} channel counts but the architecture has {baseCounts.Count} filter groups");
        int bad = Array.FindIndex(Channels, c => c < 1);
        if (bad >= 0)
            throw new SurgeonException($"{Architecture}: filter group {bad} has {Channels[bad]} channels; every group needs at least 1");
        return (int[])Channels.Clone();
    }
}
