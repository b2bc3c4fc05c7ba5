using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Loss preservation (Molchanov et al. 2019, as unified by Lubana &amp; Dick): removing θ_p changes the loss by about
/// −θ_p ḡ_p, so per weight |θ·ḡ| and per filter Σ|θ·ḡ|.
/// </summary>
public sealed class LossPreservationMeasure : IImportanceMeasure
{
    public string Name => "loss-preservation";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public bool NeedsData => true;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data)
    {
        var g = LossGradients.MeanOf(model, parameterNames, MeasureInputs.RequireData(this, data));
        return MeasureInputs.Combine(model, parameterNames, g, (theta, gbar) => theta.mul(gbar));
    }
}
