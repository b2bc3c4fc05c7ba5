using Surgeon.Compression;
using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// A quantised model in a checkpoint's compression state and back: <see cref="Store"/> writes each weight's grid into
/// its tensor's entry and the settings, folds and activation grids into <see cref="CompressionState.Quantization"/>;
/// <see cref="Plan"/> rebuilds the <see cref="QuantizedModel"/> from the checkpoint's float weights with exactly those
/// grids, so a quantised checkpoint loads as the model that was evaluated when it was written.
/// </summary>
internal static class QuantizedCheckpoint
{
    /// <summary>The state with <paramref name="plan"/>'s grids added (masks and other entries kept).</summary>
    public static CompressionState Store(CompressionState? existing, QuantizedModel plan, string method = "ptq")
    {
        if (plan.WeightSettings is null || plan.Layers.Any(l => l.Quantization is null))
            throw new SurgeonException("only a model with every weight quantised is stored as a quantised checkpoint");
        var tensors = new Dictionary<string, TensorCompression>(existing?.Tensors ?? [], StringComparer.Ordinal);
        foreach (var layer in plan.Layers)
        {
            string name = TensorName(layer.Name);
            tensors[name] = (tensors.GetValueOrDefault(name) ?? new TensorCompression()) with { Quantization = layer.Quantization };
        }
        var record = Record(plan.WeightSettings, plan.ActivationSettings, method) with
        {
            FoldedNorms = [.. plan.FoldedNorms],
            Inputs = plan.Inputs.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
        };
        return (existing ?? new CompressionState()) with { Tensors = tensors, Quantization = record };
    }

    /// <summary>The settings alone as a record (no grids, no folds): what <see cref="RequireSameSettings"/> compares.</summary>
    public static ModelQuantization Record(WeightQuantizationSettings weights, ActivationQuantizationSettings? activations, string method = "ptq") => new()
    {
        Method = method,
        WeightBits = weights.Bits,
        WeightSymmetric = weights.Symmetric,
        PerChannel = weights.PerChannel,
        WeightScale = QuantizationNames.Of(weights.Scale),
        ActivationBits = activations?.Bits,
        ActivationSymmetric = activations?.Symmetric ?? false,
        Observer = activations is null ? null : QuantizationNames.Of(activations.Observer),
        Percentile = activations is { Observer: ObserverKind.Percentile } ? activations.Percentile : null,
        CalibrationSamples = activations?.CalibrationSamples,
        CalibrationSeed = activations?.Seed ?? 0,
    };

    /// <summary>Refuses to quantise an already quantised model with settings other than its own (its float weights
    /// would be re-quantised, and the checkpoint would claim another quantisation than the one it was evaluated as).</summary>
    public static void RequireSameSettings(CompressionState? state, WeightQuantizationSettings weights, ActivationQuantizationSettings? activations, string what)
    {
        if (state?.Quantization is not { } stored) return;
        string asked = Record(weights, activations).SettingsKey(), has = stored.SettingsKey();
        if (asked != has)
            throw new SurgeonException($"{what} is already quantised ({has}); quantise its float original instead of re-quantising it as {asked}");
    }

    /// <summary>
    /// The quantised model a checkpoint's state describes, or null for a float checkpoint: the model's BatchNorms folded
    /// (they must be the ones the state lists), each folded weight put on its stored grid, each layer's input on its
    /// stored grid. A state that does not fit the model is a one-line error naming <paramref name="what"/>.
    /// </summary>
    public static QuantizedModel? Plan(nn.Module model, CompressionState? state, string what)
    {
        if (state?.Quantization is not { } record) return null;
        var folds = NormFolds.Of(model).Select(f => f.Norm).ToList();
        if (!folds.SequenceEqual(record.FoldedNorms))
            throw new SurgeonException($"{what}: the quantised model folds [{string.Join(", ", record.FoldedNorms)}], but this model's foldable BatchNorms are [{string.Join(", ", folds)}]");
        var floats = PostTrainingQuantization.Prepare(model, null);
        var layers = new List<QuantizedLayer>();
        foreach (var layer in floats.Layers)
        {
            string name = TensorName(layer.Name);
            var grid = state.Tensors.GetValueOrDefault(name)?.Quantization
                ?? throw new SurgeonException($"{what}: the quantised model has no grid for {name}");
            grid.Validate($"{what}: {name}");
            if (grid.Axis is { } axis && (axis != 0 || grid.Scales.Length != layer.Shape[0]))
                throw new SurgeonException($"{what}: the grid of {name} has {grid.Scales.Length} scales along axis {axis}, which does not fit [{string.Join(", ", layer.Shape)}]");
            using var scope = NewDisposeScope();
            var values = tensor(layer.Weight, layer.Shape);
            var codes = UniformQuantizer.Quantize(values, grid);
            layers.Add(layer with
            {
                Weight = UniformQuantizer.Dequantize(codes, grid).data<float>().ToArray(),
                Quantization = grid,
                Codes = codes.data<sbyte>().ToArray(),
            });
        }
        var names = layers.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var (layer, grid) in record.Inputs)
        {
            if (!names.Contains(layer))
                throw new SurgeonException($"{what}: the quantised model has an input grid for {layer}, which is not a Conv2d or Linear layer of this model");
            grid.Validate($"{what}: the input grid of {layer}");
            if (grid.Axis is not null)
                throw new SurgeonException($"{what}: the input grid of {layer} is per-axis; activations have one grid per layer");
        }
        if (record.ActivationBits is not null && names.FirstOrDefault(n => !record.Inputs.ContainsKey(n)) is { } missing)
            throw new SurgeonException($"{what}: activations are quantised but {missing} has no input grid");
        return new QuantizedModel(layers, floats.FoldedNorms, record.Inputs, WeightSettings(record), ActivationSettings(record));
    }

    /// <summary>
    /// Puts the model's own (unfolded) Conv2d and Linear weights on grids, in place, for the quantised sparse file, and
    /// returns the grids by tensor name: a layer without a folded BatchNorm gets its stored grid (its codes are the
    /// quantised model's), a layer with one a grid computed with the stored settings on its unfolded weight (the file
    /// keeps the BatchNorm, as the model's state does).
    /// </summary>
    public static IReadOnlyDictionary<string, TensorQuantization> QuantizeInPlace(nn.Module model, CompressionState state, string what)
    {
        var plan = Plan(model, state, what) ?? throw new SurgeonException($"{what} is not quantised");
        var settings = plan.WeightSettings!;
        var result = new Dictionary<string, TensorQuantization>(StringComparer.Ordinal);
        var byName = WeightedLayers.Of(model).ToDictionary(l => l.Name, l => l.Module, StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var layer in plan.Layers)
        {
            using var scope = NewDisposeScope();
            var weight = WeightedLayers.WeightOf(byName[layer.Name]);
            string name = TensorName(layer.Name);
            var grid = layer.FoldedNorm is null ? layer.Quantization! : WeightQuantizer.Compute(weight, settings, name);
            weight.copy_(UniformQuantizer.FakeQuantize(weight.detach().to(ScalarType.Float32), grid));
            result[name] = grid;
        }
        return result;
    }

    public static WeightQuantizationSettings WeightSettings(ModelQuantization record) => new()
    {
        Bits = record.WeightBits,
        Symmetric = record.WeightSymmetric,
        PerChannel = record.PerChannel,
        Scale = QuantizationNames.Scale(record.WeightScale),
    };

    public static ActivationQuantizationSettings? ActivationSettings(ModelQuantization record) => record.ActivationBits is not { } bits ? null : new()
    {
        Bits = bits,
        Symmetric = record.ActivationSymmetric,
        Observer = QuantizationNames.Observer(record.Observer ?? "minmax"),
        Percentile = record.Percentile ?? 99.99,
        CalibrationSamples = record.CalibrationSamples ?? 1,
        Seed = record.CalibrationSeed,
    };

    private static string TensorName(string layer) => string.IsNullOrEmpty(layer) ? "weight" : $"{layer}.weight";
}
