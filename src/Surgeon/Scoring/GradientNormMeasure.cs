using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Gradient-norm preservation (Lubana &amp; Dick, ICLR 2021): removing filter f changes ‖g‖² by about −2Σ_f θ·(Hḡ), so
/// the filters whose removal changes the gradient norm least, in either direction, go first: per filter |Σθ·(Hḡ)|,
/// per weight |θ·(Hḡ)|. T_H = 1 (the plain loss), unlike GraSP.
/// </summary>
internal sealed class GradientNormMeasure : IScore
{
    public string Name => "gradient-norm";
    public FilterAggregation Aggregation => FilterAggregation.SumThenAbs;
    public string Description => "gradient-norm preservation |θ·Hḡ|";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.HessianProducts;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var hg = LossGradients.HessianGradientOf(model, parameterNames, context.RequireScoreData(Name));
        return MeasureInputs.Combine(model, parameterNames, hg, (theta, h) => theta.mul(h));
    }
}
