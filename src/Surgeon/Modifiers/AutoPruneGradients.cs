using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// AutoPrune's backward rules for the auxiliaries, as tensor formulas. The forward pass computes with t = w·h(m);
/// with G = ∂L/∂t the chain rule gives ∂L/∂w = G·h(m) and ∂L/∂m = G·w·h′(m), where h′ (zero almost everywhere) is
/// replaced by a surrogate and, in the paper's proposed rule, w by sgn(w). For a filter's single auxiliary the
/// contributions of all its entries (weights, bias, norm) are summed.
/// </summary>
internal static class AutoPruneGradients
{
    /// <summary>h(m) = 1 where m &gt; 0, else 0, as float.</summary>
    public static Tensor Step(Tensor m) => m.gt(HeldScalars.Of(0)).to_type(m.dtype);

    /// <summary>The surrogate for h′(m): ones (identity) or 1 for m &gt; 0 and α elsewhere (leaky).</summary>
    public static Tensor SurrogateDerivative(Tensor m, AutoPruneOptions o) => o.Surrogate == AutoPruneSurrogate.Identity
        ? ones_like(m)
        : where(m.gt(HeldScalars.Of(0)), ones_like(m), full_like(m, HeldScalars.Of(o.Leak)));

    /// <summary>G·s(w) with s(w) = sgn(w) or w: the loss part of ∂L/∂m before h′, entry by entry.</summary>
    public static Tensor LossFactor(Tensor lossGradient, Tensor weight, AutoPruneOptions o) =>
        lossGradient.mul(o.Ste == AutoPruneSte.Sign ? weight.sign() : weight);

    /// <summary>∂(λ·R)/∂m for the chosen regulariser (with the surrogate h′ for R = Σ h(m)).</summary>
    public static Tensor RegularizerGradient(Tensor m, AutoPruneOptions o)
    {
        var lambda = HeldScalars.Of(o.Lambda);
        return o.Regularizer switch
        {
            AutoPruneRegularizer.Mask => SurrogateDerivative(m, o).mul(lambda),
            AutoPruneRegularizer.L1 => m.sign().mul(lambda),
            _ => m.mul(lambda),
        };
    }

    /// <summary>∂/∂m of L + λR given <paramref name="lossFactor"/> = Σ G·s(w) over each auxiliary's entries (shaped like m).</summary>
    public static Tensor AuxiliaryGradient(Tensor lossFactor, Tensor m, AutoPruneOptions o) =>
        lossFactor.mul(SurrogateDerivative(m, o)).add(RegularizerGradient(m, o), HeldScalars.One);
}
