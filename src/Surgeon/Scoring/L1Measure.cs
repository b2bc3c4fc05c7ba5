using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>L1 norm: per weight |θ|, per filter ‖θ_f‖₁. Data-free.</summary>
public sealed class L1Measure : IImportanceMeasure
{
    public string Name => "l1";
    public FilterAggregation Aggregation => FilterAggregation.L1Norm;
    public bool NeedsData => false;

    public IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> parameterNames, ScoringData? data) =>
        parameterNames.Zip(MeasureInputs.Weights(model, parameterNames)).ToDictionary(p => p.First, p => p.Second.clone());
}
