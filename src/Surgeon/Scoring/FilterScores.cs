using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>One score per channel of a filter group (higher = kept).</summary>
internal sealed record GroupScores(FilterGroup Group, double[] Scores);

/// <summary>
/// Structured scores: per filter group, one score per output channel. A channel's score is the measure's aggregate
/// (see <see cref="FilterAggregation"/>) of the c-th dim-0 slice of each producer weight, summed over the group's
/// producers; for <see cref="FilterAggregation.NormScale"/> it is Σ|γ_c| over the group's norms.
/// </summary>
internal static class FilterScores
{
    public static IReadOnlyList<GroupScores> Compute(IScore measure, PruningContext context, IReadOnlyList<FilterGroup> groups)
    {
        using var scope = NewDisposeScope();
        var names = groups.SelectMany(g => InputNames(g, measure.Aggregation)).Distinct().ToList();
        if (names.Count == 0)
            throw new SurgeonException($"no parameters to score for score '{measure.Name}'");
        var raw = measure.RawScores(context, names);
        return Aggregate(raw, measure.Aggregation, groups);
    }

    /// <summary>The parameters whose raw values a group's scores are made of: its norms for BN scale, else its producers.</summary>
    public static IReadOnlyList<string> InputNames(FilterGroup group, FilterAggregation aggregation)
    {
        var names = aggregation == FilterAggregation.NormScale ? group.Norms : group.Producers;
        if (names.Count == 0)
            throw new SurgeonException(aggregation == FilterAggregation.NormScale
                ? $"filter group '{group.Name}' has no BatchNorm, so it has no scale γ to score"
                : $"filter group '{group.Name}' has no producer weights");
        return names;
    }

    /// <summary>Aggregates raw per-weight values (keyed by parameter name) into one score vector per group.</summary>
    public static IReadOnlyList<GroupScores> Aggregate(IReadOnlyDictionary<string, Tensor> raw,
        FilterAggregation aggregation, IReadOnlyList<FilterGroup> groups)
    {
        using var scope = NewDisposeScope();
        var result = new List<GroupScores>(groups.Count);
        foreach (var group in groups)
        {
            var total = zeros(group.Channels, ScalarType.Float64);
            foreach (var name in InputNames(group, aggregation))
            {
                if (!raw.TryGetValue(name, out var values))
                    throw new SurgeonException($"no scores for parameter '{name}' of filter group '{group.Name}'");
                if (values.dim() < 1 || values.shape[0] != group.Channels)
                    throw new SurgeonException(
                        $"parameter '{name}' is [{string.Join(", ", values.shape)}] but filter group '{group.Name}' has {group.Channels} channels");
                total.add_(PerChannel(values.detach().to_type(ScalarType.Float64).reshape(group.Channels, -1), aggregation), HeldScalars.One);
            }
            result.Add(new GroupScores(group, total.data<double>().ToArray()));
        }
        return result;
    }

    /// <summary>v is [C, weights per channel]; the aggregate of each row.</summary>
    private static Tensor PerChannel(Tensor v, FilterAggregation aggregation) => aggregation switch
    {
        FilterAggregation.AbsThenSum or FilterAggregation.L1Norm or FilterAggregation.NormScale => v.abs().sum(dim: 1),
        FilterAggregation.SumThenAbs => v.sum(dim: 1).abs(),
        FilterAggregation.Sum => v.sum(dim: 1),
        FilterAggregation.L2Norm => v.Squared().sum(dim: 1).sqrt(),
        _ => throw new ArgumentOutOfRangeException(nameof(aggregation), aggregation, null),
    };
}
