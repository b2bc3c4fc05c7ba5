using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// BatchNorm scale (network slimming, Liu et al. 2017): a filter's importance is |γ_c| of its BatchNorm. Defined per
/// filter only: the raw values are the γ parameters named by a group's Norms, not the producer weights.
/// </summary>
internal sealed class BnScaleMeasure : IScore
{
    public string Name => "bn-scale";
    public FilterAggregation Aggregation => FilterAggregation.NormScale;
    public string Description => "BatchNorm scale |γ| of each filter (network slimming), filters only";
    public StageNeeds Needs => StageNeeds.FilterGroups;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var weights = MeasureInputs.Weights(context.Model, parameterNames);
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
