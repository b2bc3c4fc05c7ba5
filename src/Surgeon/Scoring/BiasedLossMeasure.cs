using Surgeon.Compression;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Magnitude-biased loss preservation (Lubana &amp; Dick): θ·ḡ weighted once more by |θ|, so small weights go first;
/// the paper writes it Σ|θ²·ḡ| per filter (|θ²ḡ| = |θ|·|θḡ|). Per weight |θ²·ḡ|.
/// </summary>
internal sealed class BiasedLossMeasure : IScore
{
    public string Name => "biased-loss";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public string Description => "magnitude-biased loss preservation |θ²·ḡ|";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var g = LossGradients.MeanOf(model, parameterNames, context.RequireScoreData(Name));
        return MeasureInputs.Combine(model, parameterNames, g, (theta, gbar) => theta.Squared().mul(gbar));
    }
}
