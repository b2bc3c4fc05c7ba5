using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>Magnitude (Li et al. 2017): per weight |θ|, per filter ‖θ_f‖₂. Data-free.</summary>
internal sealed class MagnitudeMeasure : IScore
{
    public string Name => "magnitude";
    public FilterAggregation Aggregation => FilterAggregation.L2Norm;
    public string Description => "magnitude |θ| (per filter ‖θ_f‖₂)";
    public StageNeeds Needs => StageNeeds.None;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames) =>
        parameterNames.Zip(MeasureInputs.Weights(context.Model, parameterNames)).ToDictionary(p => p.First, p => p.Second.clone());
}
