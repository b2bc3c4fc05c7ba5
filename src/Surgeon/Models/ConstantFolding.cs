using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// Moves the constant output k_c of an unproduced channel (zero weights, nonzero bias: LeNet's convs and linears) into
/// the biases of the layers that read it, so the channel can go without changing any logit: a consumer adds
/// k_c · Σ W[o, entries of c] to every output o. Exact when the consumer sees k_c at every input entry it reads: a
/// linear layer, or a conv with no zero padding (a padded border would read 0 instead of k_c) and no groups, and it
/// has a bias to hold the sum. k_c is measured, not derived: one eval-mode forward pass of a zero input records what each
/// consumer receives, so whatever lies between producer and consumer (ReLU, max-pool, flatten) is accounted for; a
/// channel whose received entries are not all equal is not folded.
/// </summary>
internal sealed class ConstantFolding : IDisposable
{
    private readonly Dictionary<string, Tensor> inputs;
    private readonly Dictionary<string, nn.Module> modules;

    private ConstantFolding(Dictionary<string, Tensor> inputs, Dictionary<string, nn.Module> modules)
    {
        this.inputs = inputs;
        this.modules = modules;
    }

    public void Dispose()
    {
        foreach (var t in inputs.Values) t.Dispose();
    }

    /// <summary>Whether every consumer of <paramref name="group"/> can absorb a constant input exactly.</summary>
    public static bool Foldable(FilterGroup group, IReadOnlyDictionary<string, nn.Module> modules) =>
        group.Norms.Count == 0 && group.Consumers.Count > 0 && group.Consumers.All(c => modules.TryGetValue(ModuleOf(c.Weight), out var m) && m switch
        {
            Linear linear => linear.bias is not null,
            Conv2d conv => conv.bias is not null && conv.groups == 1 && conv.padding is { } pad && pad.All(p => p == 0),
            _ => false,
        });

    /// <summary>Records, for every consumer of the given groups, the input it receives from a zero batch (eval mode).</summary>
    public static ConstantFolding Probe(nn.Module<Tensor, Tensor> model, ModelSpec spec, IEnumerable<FilterGroup> groups)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var inputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var removers = new List<Action>();
        bool wasTraining = model.training;
        try
        {
            foreach (string name in groups.SelectMany(g => g.Consumers).Select(c => ModuleOf(c.Weight)).Distinct())
            {
                var layer = (nn.Module<Tensor, Tensor>)modules[name];
                var handle = layer.register_forward_hook((_, input, output) =>
                {
                    inputs[name] = input.detach().clone().DetachFromDisposeScope();
                    return output;
                });
                removers.Add(handle.remove);
            }
            model.eval();
            var first = model.parameters().First();
            using var _ = no_grad();
            using var x = zeros([1, .. spec.InputShape.Select(d => (long)d)], first.dtype, first.device);
            using var logits = model.call(x);
        }
        finally
        {
            foreach (var remove in removers) remove();
            model.train(wasTraining);
        }
        return new ConstantFolding(inputs, modules);
    }

    /// <summary>
    /// Adds channel <paramref name="channel"/>'s constant, times its weights, to every consumer's bias; false (and
    /// nothing changed) when a consumer does not receive one constant on all the channel's entries.
    /// </summary>
    public bool TryFold(FilterGroup group, int channel)
    {
        using var scope = NewDisposeScope();
        var deltas = new List<(Tensor Bias, Tensor Delta)>();
        double? constant = null;
        foreach (var consumer in group.Consumers)
        {
            string name = ModuleOf(consumer.Weight);
            // The channel's entries of the consumer's input: [1, C, H, W] (conv) or [1, C·block] (linear).
            long span = consumer.Block * Positions(inputs[name]);
            var received = inputs[name].flatten(1).narrow(1, channel * span, span);
            double lo = received.min().to_type(ScalarType.Float64).item<double>(), hi = received.max().to_type(ScalarType.Float64).item<double>();
            if (lo != hi || (constant is { } k && k != lo)) return false;
            constant = lo;
            var (weight, bias) = modules[name] switch
            {
                Linear l => ((Tensor)l.weight, (Tensor)l.bias!),
                Conv2d c => (c.weight, c.bias!),
                var m => throw new InvalidOperationException($"{name} is a {m.GetType().Name}, which cannot absorb a constant"),
            };
            var block = weight.detach().narrow(1, (long)channel * consumer.Block, consumer.Block).reshape(weight.shape[0], -1).sum(dim: 1);
            deltas.Add((bias, block.mul(received.narrow(1, 0, 1).reshape(1).to_type(block.dtype))));
        }
        using var _ = no_grad();
        foreach (var (bias, delta) in deltas)
            bias.add_(delta, HeldScalars.One);
        return true;
    }

    /// <summary>Spatial positions per input channel in a conv's recorded input (1 for a linear layer's).</summary>
    private static long Positions(Tensor input) =>
        input.dim() == 4 ? input.shape[2] * input.shape[3] : 1;

    private static string ModuleOf(string weight) =>
        weight.EndsWith(".weight", StringComparison.Ordinal) ? weight[..^".weight".Length] : weight;
}
