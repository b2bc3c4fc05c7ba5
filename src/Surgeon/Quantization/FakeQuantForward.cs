using Surgeon.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// Runs a model as its <see cref="QuantizedModel"/> says, simulated in float32 (fake quantisation), for as long as this
/// object lives: each Conv2d and Linear computes with its folded, quantised weight and float bias on its input
/// fake-quantised to its grid (where activations are quantised), and each folded BatchNorm passes its input through.
/// Forward hooks do it, so the model itself (its parameters, its checkpoint) is not changed; Dispose removes them.
/// </summary>
/// <remarks>
/// The model's own layers still run and their outputs are replaced, so a forward costs about twice the float one; this is
/// for evaluation and calibration, not speed. An observer callback sees each layer's input before it is quantised.
/// </remarks>
internal sealed class FakeQuantForward : IDisposable
{
    private readonly List<Action> removers = [];
    private readonly List<Tensor> constants = [];

    public FakeQuantForward(nn.Module model, QuantizedModel plan, Action<string, Tensor>? observeInput = null)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        try
        {
            foreach (var layer in plan.Layers)
                Hook(Find(modules, layer.Name), layer, plan, observeInput);
            foreach (string norm in plan.FoldedNorms)
            {
                if (Find(modules, norm) is not SafeBatchNorm2d bn)
                    throw new SurgeonException($"the quantised model folds {norm}, which is not a BatchNorm of this model");
                removers.Add(bn.register_forward_hook((_, input, _) => input.alias()).remove);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
        foreach (var t in constants) t.Dispose();
        constants.Clear();
    }

    private void Hook(nn.Module module, QuantizedLayer layer, QuantizedModel plan, Action<string, Tensor>? observe)
    {
        var device = WeightedLayers.WeightOf(module).device;
        if (!WeightedLayers.WeightOf(module).shape.SequenceEqual(layer.Shape))
            throw new SurgeonException(
                $"the quantised model's {layer.Name} is [{string.Join(", ", layer.Shape)}] but the model's is [{string.Join(", ", WeightedLayers.WeightOf(module).shape)}]");
        var weight = Constant(tensor(layer.Weight, layer.Shape, device: device));
        var bias = layer.Bias is null ? null : Constant(tensor(layer.Bias, device: device));
        var grid = plan.Input(layer.Name);
        Tensor Input(Tensor x)
        {
            observe?.Invoke(layer.Name, x);
            return grid is null ? x : UniformQuantizer.FakeQuantize(x, grid);
        }
        switch (module)
        {
            case Conv2d conv:
                long[] padding = conv.padding ?? throw new SurgeonException($"{layer.Name} has symbolic padding; quantisation needs explicit sizes");
                if (conv.padding_mode != PaddingModes.Zeros || conv.transposed)
                    throw new SurgeonException($"{layer.Name}: only zero-padded, non-transposed convolutions are quantised");
                removers.Add(conv.register_forward_hook((_, input, _) =>
                    nn.functional.conv2d(Input(input), weight, bias, conv.stride, padding, conv.dilation, conv.groups)).remove);
                break;
            case Linear linear:
                removers.Add(linear.register_forward_hook((_, input, _) => nn.functional.linear(Input(input), weight, bias)).remove);
                break;
            default:
                throw new SurgeonException($"the quantised model's {layer.Name} is a {module.GetType().Name}, not a Conv2d or Linear layer");
        }
    }

    private Tensor Constant(Tensor t)
    {
        constants.Add(t.DetachFromDisposeScope());
        return t;
    }

    private static nn.Module Find(Dictionary<string, nn.Module> modules, string name) =>
        modules.TryGetValue(name, out var module)
            ? module
            : throw new SurgeonException($"the quantised model names a layer {name} that this model does not have");
}
