using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// GraSP (Wang et al. 2020, "Picking winning tickets before training by preserving gradient flow"), score Σθ·(Hḡ)
/// per filter and θ·(Hḡ) per weight, signed; ḡ and Hḡ are computed with the logits divided by T_H (default 200).
/// </summary>
/// <remarks>
/// Sign convention. Removing θ_p (δθ = −θ_p e_p) changes the squared gradient norm by about ∇‖g‖²ᵀδθ = −2θ_p(Hg)_p.
/// GraSP scores S(−θ) = −θ⊙Hg and removes the highest S, i.e. the weights whose removal raises ‖g‖² most (or lowers
/// it least); Lubana &amp; Dick (ICLR 2021, section on gradient-norm measures) read it the same way: GraSP prunes the
/// most negative θᵀHg and so increases the gradient norm. With our "higher = kept" convention the score is therefore
/// +θ·Hḡ without an absolute value, and selection prunes the lowest (most negative) first, as DESIGN.md states.
/// </remarks>
internal sealed class GraspMeasure(double temperature = GraspMeasure.DefaultTemperature) : IScore
{
    /// <summary>T_H of the GraSP code and of Lubana &amp; Dick's GraSP runs.</summary>
    public const double DefaultTemperature = 200;

    public double Temperature { get; } = temperature > 0
        ? temperature
        : throw new SurgeonException($"GraSP temperature must be positive, got {temperature}");

    public string Name => "grasp";
    public FilterAggregation Aggregation => FilterAggregation.Sum;
    public string Description => "GraSP θ·Hḡ with logits/200, signed (most negative pruned first)";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.HessianProducts;

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var model = context.Model;
        var hg = LossGradients.HessianGradientOf(model, parameterNames, context.RequireScoreData(Name), Temperature);
        return MeasureInputs.Combine(model, parameterNames, hg, (theta, h) => theta.mul(h));
    }
}
