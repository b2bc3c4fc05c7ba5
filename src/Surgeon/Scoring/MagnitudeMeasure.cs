using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>Magnitude (Li et al. 2017): per weight |θ|, per filter ‖θ_f‖₂. Data-free.</summary>
public sealed class MagnitudeMeasure : IImportanceMeasure
{
    public string Name => "magnitude";
    public FilterAggregation Aggregation => FilterAggregation.L2Norm;
    public bool NeedsData => false;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data) =>
        parameterNames.Zip(MeasureInputs.Weights(model, parameterNames)).ToDictionary(p => p.First, p => p.Second.clone());
}
