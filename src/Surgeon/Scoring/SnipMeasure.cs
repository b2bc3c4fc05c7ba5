using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// SNIP connection sensitivity (Lee et al. 2019): |∂ℓ/∂c| at mask c = 1, which is |θ·g| with g the gradient of the
/// mean loss on one minibatch: only the first batch of the scoring data is used. (SNIP's normalisation by Σ|θ·g| does
/// not change any ranking and is left out.) Per filter Σ|θ·g|.
/// </summary>
internal sealed class SnipMeasure : IScore
{
    public string Name => "snip";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public string Description => "SNIP connection sensitivity |θ·g| on one minibatch";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var batch = context.RequireScoreData(Name).FirstBatchOnly();
        var g = LossGradients.MeanOf(model, parameterNames, batch);
        return MeasureInputs.Combine(model, parameterNames, g, (theta, grad) => theta.mul(grad));
    }
}
