using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>
/// SGD with momentum, L2 weight decay and optional Nesterov momentum, as in torch.optim.SGD (dampening 0):
/// d = g + λw; b = μb + d; w −= lr·(nesterov ? d + μb : b).
/// Our own rather than TorchSharp's SGD: with momentum and weight decay together, TorchSharp 0.107's SGD.step failed
/// at random ("Expected false to be true" / "Unknown scalar type" from c10::Scalar) in about a third of our training
/// runs. The cause is TorchSharp's implicitly created Scalars (e.g. the alpha = 1 of <c>add_(Tensor)</c>): nothing
/// holds them during the native call, so the GC finalizer can free one while libtorch still reads it. Here every
/// Scalar is created explicitly and held (<c>using</c>) until after the calls that use it.
/// </summary>
internal sealed class MomentumSgd : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly Tensor?[] buffers;

    public MomentumSgd(IEnumerable<Parameter> parameters, double learningRate, double momentum, double weightDecay, bool nesterov)
    {
        this.parameters = parameters.ToArray();
        buffers = new Tensor?[this.parameters.Length];
        LearningRate = learningRate;
        Momentum = momentum;
        WeightDecay = weightDecay;
        Nesterov = nesterov && momentum > 0;
    }

    public double LearningRate { get; set; }
    public double Momentum { get; }
    public double WeightDecay { get; }
    public bool Nesterov { get; }

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
        using var noGrad = no_grad();
        using var decay = WeightDecay.ToScalar();
        using var momentum = Momentum.ToScalar();
        using var step = (-LearningRate).ToScalar();
        for (int i = 0; i < parameters.Length; i++)
        {
            using var scope = NewDisposeScope();
            var p = parameters[i];
            var g = p.grad;
            if (g is null) continue;
            var d = WeightDecay != 0 ? g.add(p, decay) : g;
            if (Momentum != 0)
            {
                if (buffers[i] is null)
                    buffers[i] = d.detach().clone().DetachFromDisposeScope();
                else
                    buffers[i]!.mul_(momentum).add_(d, HeldScalars.One);
                d = Nesterov ? d.add(buffers[i]!, momentum) : buffers[i]!;
            }
            p.add_(d, step);
        }
    }

    public void Dispose()
    {
        foreach (var b in buffers) b?.Dispose();
        Array.Clear(buffers);
    }
}
