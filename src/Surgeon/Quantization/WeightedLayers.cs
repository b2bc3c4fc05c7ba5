using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>The layers quantisation acts on: every Conv2d and Linear, by module path, in module order.</summary>
internal static class WeightedLayers
{
    public static IEnumerable<(string Name, nn.Module<Tensor, Tensor> Module)> Of(nn.Module model)
    {
        foreach (var (name, module) in model.named_modules())
            if (module is Conv2d or Linear)
                yield return (name, (nn.Module<Tensor, Tensor>)module);
    }

    /// <summary>Each layer's weight by its state-dict name ("layer1.0.conv1.weight").</summary>
    public static IEnumerable<(string Name, Parameter Weight)> Weights(nn.Module model)
    {
        foreach (var (name, module) in Of(model))
            yield return (string.IsNullOrEmpty(name) ? "weight" : $"{name}.weight", WeightOf(module));
    }

    public static Parameter WeightOf(nn.Module module) => module switch
    {
        Conv2d c => c.weight ?? throw new InvalidOperationException("a Conv2d without a weight"),
        Linear l => l.weight ?? throw new InvalidOperationException("a Linear without a weight"),
        _ => throw new ArgumentException($"{module.GetType().Name} is not a Conv2d or Linear layer"),
    };

    public static Parameter? BiasOf(nn.Module module) => module switch
    {
        Conv2d c => c.bias,
        Linear l => l.bias,
        _ => throw new ArgumentException($"{module.GetType().Name} is not a Conv2d or Linear layer"),
    };
}
