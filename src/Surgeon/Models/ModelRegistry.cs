using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>Models by name.</summary>
public static class ModelRegistry
{
    /// <param name="Structured">The model implements <see cref="IStructuredModel"/> and honours <see cref="ModelSpec.Channels"/>.</param>
    private sealed record Entry(string Description, Func<ModelSpec, nn.Module<Tensor, Tensor>> Create, bool Structured = true);

    private static readonly Dictionary<string, Entry> Entries = new(StringComparer.OrdinalIgnoreCase)
    {
        ["mlpnet"] = new("MLPNet 784-40-20-10, ReLU, no biases (WoodFisher / CBS papers)",
            s => new MLPNet(s.InputShape.Aggregate(1, (a, b) => a * b), s.NumClasses, s.Width), Structured: false),
        ["vgg13"] = new("VGG-13, CIFAR-style, conv→ReLU→BN, linear classifier (flowandprune)", s => new Vgg13(s)),
        ["mobilenet-v1"] = new("MobileNet-V1, CIFAR variant: 3×3 conv 32 + 13 depthwise-separable blocks", s => new MobileNetV1(s)),
        ["resnet20"] = new("ResNet-20, CIFAR-style, 16/32/64 channels, 3 blocks per stage, projection shortcuts",
            s => new CifarResNet(s, blocksPerStage: 3)),
        ["resnet56"] = new("ResNet-56, CIFAR-style, 16/32/64 channels, 9 blocks per stage, projection shortcuts",
            s => new CifarResNet(s, blocksPerStage: 9)),
        ["lenet5"] = new("LeNet-5, Caffe variant: conv 20@5×5, pool, conv 50@5×5, pool, fc 500, ReLU, fc 10, with biases (ADMM papers)",
            s => new LeNet5(s)),
        ["lenet300"] = new("LeNet-300-100: fc 300, ReLU, fc 100, ReLU, fc 10, with biases; filter groups are the hidden neurons",
            s => new LeNet300(s)),
    };

    public static IReadOnlyCollection<string> Names => Entries.Keys;

    public static string Describe(string name) => Entries.TryGetValue(name, out var e) ? e.Description : "";

    public static nn.Module<Tensor, Tensor> Create(ModelSpec spec, Device? device = null)
    {
        if (!Entries.TryGetValue(spec.Architecture, out var entry))
            throw new SurgeonException($"unknown model '{spec.Architecture}': known models are {string.Join(", ", Names)}");
        if (spec.InputShape.Length != 3 || spec.InputShape.Any(d => d <= 0))
            throw new SurgeonException($"input shape must be C×H×W with positive sizes, got {spec.InputShapeText}");
        if (spec.NumClasses < 2)
            throw new SurgeonException($"a classifier needs at least 2 classes, got {spec.NumClasses}");
        if (!(spec.Width > 0) || double.IsInfinity(spec.Width))
            throw new SurgeonException($"width multiplier must be positive, got {spec.Width}");
        if (spec.Channels is not null && !entry.Structured)
            throw new SurgeonException($"{spec.Architecture} has no filter groups, so its spec cannot list channel counts");
        nn.Module<Tensor, Tensor> model;
        try
        {
            model = entry.Create(spec);
        }
        catch (System.Runtime.InteropServices.ExternalException e) when (e.Message.Contains("allocate", StringComparison.OrdinalIgnoreCase))
        {
            // LibTorch reports a failed allocation as an exception (not an abort): a width or channel count far too large.
            throw new SurgeonException($"a {spec.Architecture} of width {spec.Width:G4}{(spec.Channels is null ? "" : " with the listed channel counts")} does not fit in memory; use a smaller --width (or check the checkpoint's sidecar)", e);
        }
        if (device is not null && device.type != DeviceType.CPU)
            model.to(device);
        return model;
    }
}
