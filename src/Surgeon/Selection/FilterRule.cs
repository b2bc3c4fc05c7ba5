using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Scoring;

namespace Surgeon.Selection;

/// <summary>
/// Per filter (flowandprune's rule): score each output filter (the score aggregated over the weights that produce
/// its channel), remove the fraction p of all current filters with the lowest scores across every group, but never
/// take a group below <see cref="FilterGroup.MinKeep"/> channels; a filter that would do so is skipped and the
/// next-lowest taken instead. Scores of different groups are compared directly. The model is rebuilt without the
/// removed filters (their BatchNorm channel and the next layer's input channel go with them); filters of
/// non-removable groups (ResNet's residual stream) are masked instead. Sparsity here is the fraction of filters.
/// The groups considered are those whose producer weights are all in the prunable set.
/// </summary>
internal sealed class FilterRule : IRule
{
    public string Name => "filter";
    public string Description => "per filter: remove the lowest-scoring filters over all layers (≥ 5 % of each kept), shrinking the model";
    public StageNeeds Needs => StageNeeds.FilterGroups;
    public bool PrunesFilters => true;

    public void Check(PruningContext context) => Groups(context);

    public RuleOutcome Select(PruningContext context, IScore score, PruneTarget target)
    {
        var groups = Groups(context);
        var groupScores = FilterScores.Compute(score, context, groups).ToList();
        // Masked channels of non-removable groups are already gone: they go first (−∞) and count as removed.
        var masked = context.MaskedChannels.ToDictionary(e => e.Key, e => new SortedSet<long>(e.Value));
        for (int i = 0; i < groupScores.Count; i++)
            if (masked.TryGetValue(groupScores[i].Group.Name, out var set))
            {
                var s = (double[])groupScores[i].Scores.Clone();
                foreach (long c in set) s[c] = double.NegativeInfinity;
                groupScores[i] = groupScores[i] with { Scores = s };
            }
        var keep = PruneGlobal(groupScores, target.Sparsity);
        foreach (var g in groups.Where(g => !g.Removable))
        {
            var set = masked.TryGetValue(g.Name, out var existing) ? existing : masked[g.Name] = [];
            var kept = keep[g.Name].ToHashSet();
            for (long c = 0; c < g.Channels; c++)
                if (!kept.Contains(c)) set.Add(c);
        }
        var smaller = ((IStructuredModel)context.Model).Shrink(keep);
        long total = groups.Sum(g => (long)g.Channels);
        long alive = groups.Sum(g => g.Removable ? keep[g.Name].Length : (long)g.Channels - masked[g.Name].Count);
        return new RuleOutcome(null, smaller, masked.ToDictionary(e => e.Key, e => e.Value.ToArray()), (double)(total - alive) / total);
    }

    /// <summary>The filter groups of the context's model whose producers are all prunable.</summary>
    public static IReadOnlyList<FilterGroup> Groups(PruningContext context)
    {
        if (context.Model is not IStructuredModel structured)
            throw new SurgeonException($"@filter removes filters, which this model does not have (conv models have them: {string.Join(", ", ModelRegistry.Names.Where(n => n != "mlpnet"))}); use @global or @layer");
        var prunable = context.Parameters.Select(p => p.Name).ToHashSet();
        var groups = structured.FilterGroups.Where(g => g.Producers.All(prunable.Contains)).ToList();
        if (groups.Count == 0)
            throw new SurgeonException("no filter group of the model lies in the prunable set; use --prunable all");
        return groups;
    }

    /// <summary>
    /// Per group (by name), the sorted indices of the channels kept, ready for
    /// <see cref="IStructuredModel.Shrink"/>. Removes ⌊p·Σ channels⌋ filters, or fewer when the
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
