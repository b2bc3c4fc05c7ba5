using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// SNIP connection sensitivity (Lee et al. 2019): |∂ℓ/∂c| at mask c = 1, which is |θ·g| with g the gradient of the
/// mean loss on one minibatch: only the first batch of the scoring data is used. (SNIP's normalisation by Σ|θ·g| does
/// not change any ranking and is left out.) Per filter Σ|θ·g|.
/// </summary>
public sealed class SnipMeasure : IImportanceMeasure
{
    public string Name => "snip";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public bool NeedsData => true;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data)
    {
        var batch = MeasureInputs.RequireData(this, data).FirstBatchOnly();
        var g = LossGradients.MeanOf(model, parameterNames, batch);
        return MeasureInputs.Combine(model, parameterNames, g, (theta, grad) => theta.mul(grad));
    }
}
