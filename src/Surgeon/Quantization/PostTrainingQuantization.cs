using System.Globalization;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Progress;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// Post-training quantisation of a trained model, in two steps: <see cref="Prepare"/> folds each foldable BatchNorm
/// into its neighbour (<see cref="NormFolds"/>) and quantises the folded weights; <see cref="Calibrate"/> runs N
/// training samples through the prepared model (weights quantised, activations in float) and sets the grid of each
/// layer's input from an observer. The model is not changed.
/// </summary>
internal static class PostTrainingQuantization
{
    public static QuantizedModel Quantize(nn.Module<Tensor, Tensor> model, WeightQuantizationSettings? weights,
        ActivationQuantizationSettings? activations, ImageDataset? train, IProgressReporter? progress = null)
    {
        if (activations is not null && train is null)
            throw new SurgeonException("quantising activations needs training samples to calibrate on");
        activations?.Validate();
        if (activations is not null) RequireSamples(activations, train!);
        var prepared = Prepare(model, weights);
        return activations is null ? prepared : Calibrate(model, prepared, activations, train!, progress);
    }

    /// <summary>Folds the BatchNorms and quantises every Conv2d and Linear weight (null: weights stay float32).</summary>
    public static QuantizedModel Prepare(nn.Module model, WeightQuantizationSettings? weights)
    {
        weights?.Validate();
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var folds = NormFolds.Of(model).ToDictionary(f => f.Layer, StringComparer.Ordinal);
        var layers = new List<QuantizedLayer>();
        using var _ = no_grad();
        foreach (var (name, module) in WeightedLayers.Of(model))
        {
            using var scope = NewDisposeScope();
            var parameter = WeightedLayers.WeightOf(module);
            long[] shape = parameter.shape;
            float[] weight = Floats(parameter);
            float[]? bias = WeightedLayers.BiasOf(module) is { } b ? Floats(b) : null;
            string? folded = null;
            if (folds.TryGetValue(name, out var fold))
            {
                var norm = ChannelAffine.Of((SafeBatchNorm2d)modules[fold.Norm]);
                (weight, bias) = fold.Direction == FoldDirection.IntoPrecedingConv
                    ? BatchNormFolding.IntoPrecedingConv(weight, bias, norm)
                    : BatchNormFolding.IntoFollowingLinear(weight, bias, (int)shape[0], norm);
                folded = fold.Norm;
            }
            if (weights is null)
            {
                layers.Add(new QuantizedLayer(name, shape, weight, bias, null, null, folded));
                continue;
            }
            var values = tensor(weight, shape);
            var grid = WeightQuantizer.Compute(values, weights, $"{name}.weight");
            var codes = UniformQuantizer.Quantize(values, grid);
            layers.Add(new QuantizedLayer(name, shape, Floats(UniformQuantizer.Dequantize(codes, grid)), bias, grid,
                codes.data<sbyte>().ToArray(), folded));
        }
        return new QuantizedModel(layers, folds.Values.Select(f => f.Norm).ToList(), new Dictionary<string, Compression.TensorQuantization>(),
            weights, null);
    }

    /// <summary>
    /// Sets the grid of every layer's input from <paramref name="settings"/>' observer over
    /// <see cref="ActivationQuantizationSettings.CalibrationSamples"/> training samples (a seeded random subset), run
    /// through <paramref name="prepared"/> with its weights quantised and its activations in float.
    /// </summary>
    public static QuantizedModel Calibrate(nn.Module<Tensor, Tensor> model, QuantizedModel prepared, ActivationQuantizationSettings settings,
        ImageDataset train, IProgressReporter? progress = null)
    {
        settings.Validate();
        RequireSamples(settings, train);
        int n = settings.CalibrationSamples;
        var indices = train.RandomSubset(n, settings.Seed);
        var observers = new Dictionary<string, IActivationObserver>(StringComparer.Ordinal);
        void Observe(string layer, Tensor input)
        {
            if (!observers.TryGetValue(layer, out var observer))
                observers[layer] = observer = settings.CreateObserver(checked(input.numel() / input.shape[0] * n));
            observer.Observe(input);
        }
        bool wasTraining = model.training;
        model.eval();
        using (var task = (progress ?? NullProgress.Instance).Start($"calibrating activations on {n} samples", n))
        using (var forward = new FakeQuantForward(model, prepared, Observe))
        using (no_grad())
        {
            for (int start = 0; start < n; start += settings.BatchSize)
            {
                using var scope = NewDisposeScope();
                int length = Math.Min(settings.BatchSize, n - start);
                var (x, _) = train.Batch(indices.AsSpan(start, length));
                // The convolution path training uses (oneDNN off): see Evaluator for why oneDNN is not trusted here.
                model.forward(x).Dispose();
                task.Advance(length);
            }
        }
        if (wasTraining) model.train();
        var missing = prepared.Layers.Select(l => l.Name).Where(l => !observers.ContainsKey(l)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"calibration never ran {string.Join(", ", missing)}");
        var inputs = observers.ToDictionary(kv => kv.Key, kv => kv.Value.Grid(settings.Bits, settings.Symmetric), StringComparer.Ordinal);
        return prepared with { Inputs = inputs, ActivationSettings = settings };
    }

    private static void RequireSamples(ActivationQuantizationSettings settings, ImageDataset train)
    {
        if (settings.CalibrationSamples > train.Count)
            throw new SurgeonException(
                $"calibrating on {settings.CalibrationSamples.ToString("N0", CultureInfo.InvariantCulture)} samples needs that many training samples, but {train.Name} has {train.Count.ToString("N0", CultureInfo.InvariantCulture)}");
    }

    private static float[] Floats(Tensor t) => t.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
}
