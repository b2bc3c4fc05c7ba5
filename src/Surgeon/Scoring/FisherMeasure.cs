using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// Diagonal-Fisher saliency θ²·E[g²] (the OBD-style estimate of the loss increase with the empirical Fisher diagonal
/// for the Hessian), E over per-sample gradients: F_pp = (1/N) Σₙ (∂ℓₙ/∂θ_p)², one sample per gradient, eval mode
/// (see <see cref="PerSampleGradients"/>). Non-negative, so per filter the plain Σ.
/// </summary>
internal sealed class FisherMeasure : IScore
{
    public string Name => "fisher";
    public FilterAggregation Aggregation => FilterAggregation.Sum;
    public string Description => "diagonal-Fisher saliency θ²·E[g²] from per-sample gradients";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var samples = context.RequireScoreData(Name);
        var parameters = ModelParameters.Resolve(model, parameterNames)
            .Select((p, i) => new PrunableParameter(parameterNames[i], p)).ToList();
        var dtype = ModelParameters.FloatType(model);
        var squares = zeros(PrunableParameters.TotalCount(parameters), dtype);
        for (int b = 0; b < samples.BatchCount; b++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = samples.Batch(b);
            if (x.dtype != dtype) x = x.to_type(dtype);
            squares.add_(PerSampleGradients.Compute(model, parameters, x, y).Squared().sum(dim: 0), HeldScalars.One);
        }
        squares.div_(HeldScalars.Of(samples.SampleCount));

        var result = new Dictionary<string, Tensor>();
        long offset = 0;
        foreach (var p in parameters)
        {
            var fisher = squares.narrow(0, offset, p.Count).view(p.Shape);
            result[p.Name] = p.Weight.detach().Squared().mul(fisher);
            offset += p.Count;
        }
        return result;
    }
}
