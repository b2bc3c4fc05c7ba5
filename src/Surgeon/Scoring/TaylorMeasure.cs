using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// First-order Taylor (Molchanov et al. 2017): removing filter f changes the loss by about −Σ_f θ·ḡ, so per filter
/// |Σθ·ḡ| (signs inside a filter may cancel). Per weight |θ·ḡ|.
/// </summary>
internal sealed class TaylorMeasure : IScore
{
    public string Name => "taylor";
    public FilterAggregation Aggregation => FilterAggregation.SumThenAbs;
    public string Description => "first-order Taylor |θ·ḡ| (per filter |Σθ·ḡ|)";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var g = LossGradients.MeanOf(model, parameterNames, context.RequireScoreData(Name));
        return MeasureInputs.Combine(model, parameterNames, g, (theta, gbar) => theta.mul(gbar));
    }
}
