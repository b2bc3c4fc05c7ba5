using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>L1 norm: per weight |θ|, per filter ‖θ_f‖₁. Data-free.</summary>
internal sealed class L1Measure : IScore
{
    public string Name => "l1";
    public FilterAggregation Aggregation => FilterAggregation.L1Norm;
    public string Description => "L1 |θ| (per filter ‖θ_f‖₁)";
    public StageNeeds Needs => StageNeeds.None;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames) =>
        parameterNames.Zip(MeasureInputs.Weights(context.Model, parameterNames)).ToDictionary(p => p.First, p => p.Second.clone());
}
