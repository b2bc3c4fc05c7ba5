using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>Models by name.</summary>
internal static class ModelRegistry
{
    /// <param name="Structured">The model implements <see cref="IStructuredModel"/> and honours <see cref="ModelSpec.Channels"/>.</param>
    private sealed record Entry(string Description, Func<ModelSpec, nn.Module<Tensor, Tensor>> Create, bool Structured = true);

    private static readonly Dictionary<string, Entry> Entries = new(StringComparer.OrdinalIgnoreCase)
    {
        ["mlpnet"] = new("MLPNet 784-40-20-10, ReLU, no biases (WoodFisher / CBS papers)",
            s => new MLPNet(InputFeatures(s), s.NumClasses, s.Width), Structured: false),
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

    /// <summary>
    /// The state (every parameter and buffer: name, dtype, shape, in state-dict order) of the model <paramref name="spec"/>
    /// describes, without allocating it: the model is built on PyTorch's meta device, where tensors have shapes but no
    /// storage. Readers check a file's tensor table against it before they allocate anything the file asks for.
    /// </summary>
    public static IReadOnlyList<(string Name, ScalarType DType, long[] Shape)> StateOf(ModelSpec spec)
    {
        var entry = Check(spec);
        lock (MetaGate)
        {
            var previous = get_default_device();
            set_default_device(META);
            try
            {
                using var model = entry.Create(spec);
                return model.state_dict().Select(kv => (kv.Key, kv.Value.dtype, kv.Value.shape)).ToList();
            }
            catch (System.Runtime.InteropServices.ExternalException e)
            {
                // LibTorch refuses even to describe a tensor whose byte count overflows 64 bits (e.g. width 1e300).
                throw new SurgeonException($"a {spec.Architecture} of width {spec.Width:G4}{(spec.Channels is null ? "" : " with the listed channel counts")} " +
                    $"has tensors too large to exist ({e.Message.Split('\n')[0]}); use a smaller --width (or check the checkpoint's sidecar)", e);
            }
            finally
            {
                set_default_device(previous);
            }
        }
    }

    /// <summary>Bytes of the state of the model <paramref name="spec"/> describes (see <see cref="StateOf"/>).</summary>
    public static long StateBytes(ModelSpec spec) =>
        StateOf(spec).Sum(t => checked(t.Shape.Aggregate(1L, (a, b) => checked(a * b)) * ElementSize(t.DType)));

    private static readonly object MetaGate = new();

    private static long ElementSize(ScalarType type)
    {
        using var probe = empty(0, type, META);
        return probe.ElementSize;
    }

    public static nn.Module<Tensor, Tensor> Create(ModelSpec spec, Device? device = null)
    {
        var entry = Check(spec);
        // A model that cannot fit is refused before libtorch tries (a huge width or input shape, e.g. from a hostile sidecar).
        long bytes;
        try
        {
            bytes = StateBytes(spec);
        }
        catch (OverflowException)
        {
            bytes = long.MaxValue;
        }
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (memory > 0 && bytes > memory)
            throw new SurgeonException($"a {spec.Architecture} of width {spec.Width:G4}{(spec.Channels is null ? "" : " with the listed channel counts")} for {spec.InputShapeText} inputs " +
                $"needs {bytes / 1e9:G3} GB for its weights, more than this machine's {memory / 1e9:G3} GB; use a smaller --width (or check the checkpoint's sidecar)");
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

    /// <summary>The spec's architecture, after the checks every model needs.</summary>
    private static Entry Check(ModelSpec spec)
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
        return entry;
    }

    /// <summary>MLPNet's input features C·H·W, which must fit an int (checked: a hostile input shape would wrap).</summary>
    private static int InputFeatures(ModelSpec spec)
    {
        long features = spec.InputShape.Aggregate(1L, (a, b) => a * b); // three positive ints: no long overflow
        return features <= int.MaxValue ? (int)features
            : throw new SurgeonException($"an mlpnet for {spec.InputShapeText} inputs would have {features} input features, more than a layer can take");
    }
}
