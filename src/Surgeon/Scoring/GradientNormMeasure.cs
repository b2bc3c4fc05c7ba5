using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Gradient-norm preservation (Lubana &amp; Dick, ICLR 2021): removing filter f changes ‖g‖² by about −2Σ_f θ·(Hḡ), so
/// the filters whose removal changes the gradient norm least, in either direction, go first: per filter |Σθ·(Hḡ)|,
/// per weight |θ·(Hḡ)|. T_H = 1 (the plain loss), unlike GraSP.
/// </summary>
public sealed class GradientNormMeasure : IImportanceMeasure
{
    public string Name => "gradient-norm";
    public FilterAggregation Aggregation => FilterAggregation.SumThenAbs;
    public bool NeedsData => true;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data)
    {
        var hg = LossGradients.HessianGradientOf(model, parameterNames, MeasureInputs.RequireData(this, data));
        return MeasureInputs.Combine(model, parameterNames, hg, (theta, h) => theta.mul(h));
    }
}
