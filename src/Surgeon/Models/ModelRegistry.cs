using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>Models by name. Later architectures (ResNet, VGG, MobileNet) register here.</summary>
public static class ModelRegistry
{
    private sealed record Entry(string Description, Func<ModelSpec, nn.Module<Tensor, Tensor>> Create);

    private static readonly Dictionary<string, Entry> Entries = new(StringComparer.OrdinalIgnoreCase)
    {
        ["mlpnet"] = new("MLPNet 784-40-20-10, ReLU, no biases (WoodFisher / CBS papers)",
            s => new MLPNet(s.InputShape.Aggregate(1, (a, b) => a * b), s.NumClasses, s.Width)),
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
        var model = entry.Create(spec);
        if (device is not null && device.type != DeviceType.CPU)
            model.to(device);
        return model;
    }
}
