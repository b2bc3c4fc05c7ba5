using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>
/// Adam (Kingma and Ba 2015) as torch.optim.Adam without weight decay: m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g²,
/// w −= lr·m̂/(√v̂ + ε) with the bias corrections m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ). Our own rather than TorchSharp's for the
/// reason of <see cref="MomentumSgd"/>: TorchSharp 0.107's optimisers pass implicitly created Scalars to libtorch, which
/// the GC can free mid-call ("Expected false to be true"; seen here in a continual fine-tuning run). Every Scalar here is
/// created explicitly and held (<c>using</c>) until after the calls that use it.
/// </summary>
internal sealed class AdamOptimizer(IEnumerable<Parameter> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) : IDisposable
{
    private readonly Parameter[] parameters = parameters.ToArray();
    private readonly Tensor?[] first = new Tensor?[parameters.Count()], second = new Tensor?[parameters.Count()];
    private long steps;

    public double LearningRate { get; set; } = learningRate;

    public void ZeroGrad()
    {
        foreach (var p in parameters)
        {
            using var g = p.grad;
            g?.zero_();
        }
    }

    public void Step()
    {
        steps++;
        double correction1 = 1 - Math.Pow(beta1, steps), correction2 = 1 - Math.Pow(beta2, steps);
        using var noGrad = no_grad();
        using var b1 = beta1.ToScalar();
        using var b2 = beta2.ToScalar();
        using var oneMinusB1 = (1 - beta1).ToScalar();
        using var oneMinusB2 = (1 - beta2).ToScalar();
        using var sqrtCorrection2 = Math.Sqrt(correction2).ToScalar();
        using var eps = epsilon.ToScalar();
        using var step = (-LearningRate / correction1).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            using var scope = NewDisposeScope();
            var p = parameters[i];
            var g = p.grad;
            if (g is null) continue;
            first[i] ??= zeros_like(p).DetachFromDisposeScope();
            second[i] ??= zeros_like(p).DetachFromDisposeScope();
            first[i]!.mul_(b1).add_(g, oneMinusB1);
            second[i]!.mul_(b2).addcmul_(g, g, oneMinusB2);
            var denominator = second[i]!.sqrt().div_(sqrtCorrection2).add_(eps, Numerics.HeldScalars.One);
            p.addcdiv_(first[i]!, denominator, step);
        }
    }

    public void Dispose()
    {
        foreach (var t in first.Concat(second)) t?.Dispose();
        Array.Clear(first);
        Array.Clear(second);
    }
}
