using Surgeon.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Unstructured scores: one per prunable weight, flat in <see cref="PrunableParameters"/> order, higher = kept. Each
/// weight's score is the elementwise form of its measure: |v| where the filter aggregation takes an absolute value or
/// a norm, v itself for the signed sums (GraSP's θ·Hḡ; Fisher's θ²E[g²] is non-negative anyway).
/// </summary>
internal static class WeightScores
{
    /// <summary>Flat scores of the context's prunable weights, float64.</summary>
    public static Tensor Compute(IScore measure, PruningContext context)
    {
        if (!measure.ScoresWeights)
            throw new SurgeonException($"score '{measure.Name}' scores filters only (from BatchNorm scales), not single weights");
        using var scope = NewDisposeScope();
        var names = context.Parameters.Select(p => p.Name).ToList();
        var raw = measure.RawScores(context, names);
        var flat = cat(names.Select(n => Elementwise(raw[n], measure.Aggregation).flatten().to_type(ScalarType.Float64)).ToList(), 0);
        return flat.MoveToOuterDisposeScope();
    }

    /// <summary>The per-weight form of a raw value under an aggregation.</summary>
    public static Tensor Elementwise(Tensor raw, FilterAggregation aggregation) => aggregation switch
    {
        FilterAggregation.Sum => raw.detach().clone(),
        FilterAggregation.AbsThenSum or FilterAggregation.SumThenAbs or FilterAggregation.L2Norm
            or FilterAggregation.L1Norm or FilterAggregation.NormScale => raw.detach().abs(),
        _ => throw new ArgumentOutOfRangeException(nameof(aggregation), aggregation, null),
    };
}
