using Surgeon.Compression;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// SynFlow (Tanaka et al. 2020), data-free: with every parameter and floating buffer replaced by its absolute value
/// and the model in eval mode (BatchNorm then an affine map of its running statistics), feed one input of ones and
/// let R = Σ model(1). The score is |θ·∂R/∂θ| (θ the absolute weights). Per filter Σ.
/// </summary>
/// <remarks>
/// The model is changed in place while scoring and restored exactly afterwards (every parameter and buffer, so the
/// weights' signs and the BatchNorm statistics come back bit for bit), even when scoring throws. The input shape is
/// the one given, else the data's sample shape; no sample is read.
/// </remarks>
internal sealed class SynFlowMeasure(long[]? inputShape = null) : IScore
{
    public string Name => "synflow";
    public FilterAggregation Aggregation => FilterAggregation.AbsThenSum;
    public string Description => "SynFlow |θ·∂R/∂θ|, data-free (all-ones input, absolute weights)";
    public StageNeeds Needs => StageNeeds.Gradients;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var shape = inputShape ?? context.SampleShape
            ?? throw new SurgeonException("synflow needs the input shape: give it, or give training data to read it from");
        var parameters = ModelParameters.Resolve(model, parameterNames).Cast<Tensor>().ToList();
        using var snapshot = new ModelSnapshot(model);
        using var mode = new EvalMode(model);
        try
        {
            using var scope = NewDisposeScope();
            Linearise(model);
            using var gradMode = enable_grad();
            var ones = torch.ones([1, .. shape], ModelParameters.FloatType(model));
            var r = model.call(ones).sum();
            var grads = autograd.grad([r], parameters, allow_unused: true);
            var result = new Dictionary<string, Tensor>();
            for (int i = 0; i < parameters.Count; i++)
            {
                var theta = parameters[i].detach();
                result[parameterNames[i]] = LossGradients.IsDefined(grads[i])
                    ? theta.mul(grads[i]).abs().detach().MoveToOuterDisposeScope()
                    : zeros_like(theta).MoveToOuterDisposeScope();
            }
            return result;
        }
        finally
        {
            snapshot.Restore();
        }
    }

    /// <summary>θ ← |θ| for every parameter and floating buffer (running mean/var), as SynFlow's linearise step.</summary>
    private static void Linearise(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var p in model.parameters()) p.abs_();
        foreach (var b in model.buffers())
            if (b.is_floating_point()) b.abs_();
    }
}
