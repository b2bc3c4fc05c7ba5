using Surgeon.Scoring;

namespace Surgeon.Selection;

/// <summary>
/// Global structured selection (flowandprune's rule): remove the fraction p of all current filters with the lowest
/// scores across every group, but never take a group below <see cref="Models.FilterGroup.MinKeep"/> channels; a filter
/// that would do so is skipped and the next-lowest taken instead. Scores of different groups are compared directly.
/// </summary>
public static class FilterSelection
{
    /// <summary>
    /// Per group (by name), the sorted indices of the channels kept, ready for
    /// <see cref="Models.IStructuredModel.Shrink"/>. Removes ⌊p·Σ channels⌋ filters, or fewer when the
    /// minimum-keep rule leaves no more to remove. Ties go by group order, then channel index.
    /// </summary>
    public static IReadOnlyDictionary<string, long[]> PruneGlobal(IReadOnlyList<GroupScores> scores, double fraction)
    {
        if (double.IsNaN(fraction) || fraction < 0 || fraction >= 1)
            throw new SurgeonException($"fraction of filters to remove must be in [0, 1), got {fraction}");
        if (scores.Select(s => s.Group.Name).Distinct().Count() != scores.Count)
            throw new SurgeonException("filter group names must be distinct");
        foreach (var s in scores)
        {
            if (s.Scores.Length != s.Group.Channels)
                throw new SurgeonException($"group '{s.Group.Name}' has {s.Group.Channels} channels but {s.Scores.Length} scores");
            if (s.Scores.Any(double.IsNaN))
                throw new SurgeonException($"filter scores of group '{s.Group.Name}' contain NaN");
        }

        long total = scores.Sum(s => (long)s.Group.Channels);
        long toRemove = (long)Math.Floor(fraction * total + 1e-9);
        var order = scores
            .SelectMany((s, g) => s.Scores.Select((score, c) => (Score: score, Group: g, Channel: c)))
            .OrderBy(e => e.Score).ThenBy(e => e.Group).ThenBy(e => e.Channel);
        var remaining = scores.Select(s => s.Group.Channels).ToArray();
        var removed = scores.Select(s => new bool[s.Group.Channels]).ToArray();
        long count = 0;
        foreach (var (_, g, c) in order)
        {
            if (count == toRemove) break;
            if (remaining[g] <= scores[g].Group.MinKeep) continue;
            removed[g][c] = true;
            remaining[g]--;
            count++;
        }
        return scores.Select((s, g) => (s.Group.Name, Keep: Enumerable.Range(0, s.Group.Channels)
                .Where(c => !removed[g][c]).Select(c => (long)c).ToArray()))
            .ToDictionary(e => e.Name, e => e.Keep);
    }
}
