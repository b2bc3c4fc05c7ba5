using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Magnitude-biased loss preservation (Lubana &amp; Dick): θ·ḡ weighted once more by |θ|, so small weights go first;
/// the paper writes it Σ|θ²·ḡ| per filter (|θ²ḡ| = |θ|·|θḡ|). Per weight |θ²·ḡ|.
/// </summary>
public sealed class BiasedLossMeasure : IImportanceMeasure
{
    public string Name => "biased-loss";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public bool NeedsData => true;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data)
    {
        var g = LossGradients.MeanOf(model, parameterNames, MeasureInputs.RequireData(this, data));
        return MeasureInputs.Combine(model, parameterNames, g, (theta, gbar) => theta.Squared().mul(gbar));
    }
}
