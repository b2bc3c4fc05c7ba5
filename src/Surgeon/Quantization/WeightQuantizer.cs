using Surgeon.Compression;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// Chooses a weight tensor's <see cref="TensorQuantization"/> (one grid for the tensor, or one per output channel: the
/// slices along axis 0, a conv's filters or a linear layer's rows), and quantises a model's Linear and Conv2d weights in
/// place. Zero is a grid point of every grid, so a pruned weight stays an exact zero.
/// </summary>
internal static class WeightQuantizer
{
    public static TensorQuantization Compute(Tensor weight, WeightQuantizationSettings settings, string name = "weight")
    {
        settings.Validate();
        if (weight.numel() == 0)
            throw new SurgeonException($"{name} is empty; there is nothing to quantise");
        if (settings.PerChannel && weight.dim() < 1)
            throw new SurgeonException($"{name} is a scalar; per-channel quantisation needs an output-channel axis");
        using var scope = NewDisposeScope();
        var values = weight.detach().to(ScalarType.Float32);
        if (!values.isfinite().all().item<bool>())
            throw new SurgeonException($"{name} has non-finite values (NaN or ±∞); it cannot be quantised");
        var rows = settings.PerChannel ? values.reshape(values.shape[0], -1) : values.reshape(1, -1);
        int? axis = settings.PerChannel ? 0 : null;
        if (settings.Scale == ScaleMethod.Mse)
        {
            var searched = ClippingSearch.Search(rows, settings.Bits, settings.Symmetric, settings.MseGridPoints);
            return searched with { Axis = axis };
        }
        double[] min = rows.amin(1).to(ScalarType.Float64).data<double>().ToArray();
        double[] max = rows.amax(1).to(ScalarType.Float64).data<double>().ToArray();
        return QuantizationGrid.FromRanges(min, max, settings.Bits, settings.Symmetric, axis);
    }

    /// <summary>
    /// Replaces every Linear and Conv2d weight of <paramref name="model"/> by its fake-quantised values (on its grid,
    /// as float32) and returns each weight's grid by state-dict name ("fc1.weight"). Biases and norms are untouched.
    /// </summary>
    public static IReadOnlyDictionary<string, TensorQuantization> QuantizeWeights(nn.Module model, WeightQuantizationSettings settings)
    {
        settings.Validate();
        var result = new Dictionary<string, TensorQuantization>(StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var (name, weight) in WeightedLayers.Weights(model))
        {
            using var scope = NewDisposeScope();
            var grid = Compute(weight, settings, name);
            weight.copy_(UniformQuantizer.FakeQuantize(weight.to(ScalarType.Float32), grid));
            result[name] = grid;
        }
        return result;
    }
}
