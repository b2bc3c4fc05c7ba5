using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// BatchNorm scale (network slimming, Liu et al. 2017): a filter's importance is |γ_c| of its BatchNorm. Defined per
/// filter only: the raw values are the γ parameters named by a group's Norms, not the producer weights.
/// </summary>
public sealed class BnScaleMeasure : IImportanceMeasure
{
    public string Name => "bn-scale";
    public FilterAggregation Aggregation => FilterAggregation.NormScale;
    public bool NeedsData => false;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data)
    {
        var weights = MeasureInputs.Weights(model, parameterNames);
        var result = new Dictionary<string, Tensor>();
        for (int i = 0; i < parameterNames.Count; i++)
        {
            if (weights[i].dim() != 1)
                throw new SurgeonException(
                    $"bn-scale reads BatchNorm scales γ (1-D); '{parameterNames[i]}' is [{string.Join(", ", weights[i].shape)}]");
            result[parameterNames[i]] = weights[i].clone();
        }
        return result;
    }
}
