using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>The cost of one Conv2d or Linear layer for one input sample.</summary>
/// <param name="Positions">Output positions the weight is applied at (H×W for a conv, 1 for a linear layer).</param>
/// <param name="Flops">Multiply-accumulates: weights × positions (a conv weight already holds in/groups × k×k per output).</param>
/// <param name="NonzeroFlops">Multiply-accumulates of the nonzero weights: nonzero weights × positions.</param>
internal sealed record LayerCost(string Name, long Weights, long NonzeroWeights, long Positions, long Flops, long NonzeroFlops);

/// <summary>
/// Parameter and FLOP counts of a model, as ShrinkBench reports them: all parameters (weights, biases, norms; buffers
/// such as running statistics are not parameters), the nonzero ones, and the multiply-accumulates of the conv and
/// linear layers for one input (one "FLOP" = one multiply-accumulate; biases, norms, activations and pooling are
/// not counted). Found by running one zero input through the model with forward hooks on its conv and linear layers.
/// </summary>
internal sealed record ModelCost(long Parameters, long NonzeroParameters, long Flops, long NonzeroFlops, IReadOnlyList<LayerCost> Layers)
{
    public double CompressionRatio => NonzeroParameters == 0 ? double.PositiveInfinity : (double)Parameters / NonzeroParameters;
    public double TheoreticalSpeedup => NonzeroFlops == 0 ? double.PositiveInfinity : (double)Flops / NonzeroFlops;

    /// <param name="inputShape">One sample's shape, C×H×W (the spec's input shape).</param>
    public static ModelCost Measure(nn.Module<Tensor, Tensor> model, IReadOnlyList<int> inputShape)
    {
        if (inputShape.Count == 0 || inputShape.Any(d => d <= 0))
            throw new SurgeonException($"input shape must have positive sizes, got {string.Join('×', inputShape)}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long parameters = 0, nonzero = 0;
        foreach (var p in model.parameters())
        {
            parameters += p.numel();
            nonzero += p.count_nonzero().item<long>();
        }

        var layers = new List<LayerCost>();
        var removers = new List<Action>();
        bool wasTraining = model.training;
        try
        {
            foreach (var (name, module) in model.named_modules())
            {
                if (module is not (Conv2d or Linear)) continue;
                var layer = (nn.Module<Tensor, Tensor>)module;
                var weight = module is Conv2d c ? c.weight : ((Linear)module).weight;
                var handle = layer.register_forward_hook((_, _, output) =>
                {
                    // Output N×C×H×W (conv) or N×F (linear), N = 1: one weight application per output position.
                    long channels = module is Conv2d ? output.shape[1] : output.shape[^1];
                    long positions = output.numel() / channels;
                    long weights = weight!.numel(), nz = weight.count_nonzero().item<long>();
                    layers.Add(new LayerCost(name, weights, nz, positions, weights * positions, nz * positions));
                    return output;
                });
                removers.Add(handle.remove);
            }
            model.eval();
            var device = model.parameters().FirstOrDefault()?.device ?? CPU;
            using var input = zeros([1, .. inputShape.Select(d => (long)d)], device: device);
            model.call(input);
        }
        finally
        {
            foreach (var remove in removers) remove();
            model.train(wasTraining);
        }
        return new ModelCost(parameters, nonzero, layers.Sum(l => l.Flops), layers.Sum(l => l.NonzeroFlops), layers);
    }
}
