using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// First-order Taylor (Molchanov et al. 2017): removing filter f changes the loss by about −Σ_f θ·ḡ, so per filter
/// |Σθ·ḡ| (signs inside a filter may cancel). Per weight |θ·ḡ|.
/// </summary>
public sealed class TaylorMeasure : IImportanceMeasure
{
    public string Name => "taylor";
    public FilterAggregation Aggregation => FilterAggregation.SumThenAbs;
    public bool NeedsData => true;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data)
    {
        var g = LossGradients.MeanOf(model, parameterNames, MeasureInputs.RequireData(this, data));
        return MeasureInputs.Combine(model, parameterNames, g, (theta, gbar) => theta.mul(gbar));
    }
}
