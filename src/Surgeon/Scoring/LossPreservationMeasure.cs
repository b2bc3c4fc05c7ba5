using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Loss preservation (Molchanov et al. 2019, as unified by Lubana &amp; Dick): removing θ_p changes the loss by about
/// −θ_p ḡ_p, so per weight |θ·ḡ| and per filter Σ|θ·ḡ|.
/// </summary>
internal sealed class LossPreservationMeasure : IScore
{
    public string Name => "loss-preservation";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public string Description => "loss preservation |θ·ḡ| (per filter Σ|θ·ḡ|)";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var g = LossGradients.MeanOf(model, parameterNames, context.RequireScoreData(Name));
        return MeasureInputs.Combine(model, parameterNames, g, (theta, gbar) => theta.mul(gbar));
    }
}
