using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>The grid of the range [smallest, largest] value seen: nothing clips.</summary>
internal sealed class MinMaxObserver : IActivationObserver
{
    private double min = double.PositiveInfinity, max = double.NegativeInfinity;

    public (double Min, double Max) Range => (min, max);

    public void Observe(Tensor values)
    {
        if (values.numel() == 0) return;
        using var scope = NewDisposeScope();
        var v = values.detach();
        min = Math.Min(min, v.min().to(ScalarType.Float64).item<double>());
        max = Math.Max(max, v.max().to(ScalarType.Float64).item<double>());
    }

    public TensorQuantization Grid(int bits, bool symmetric) =>
        double.IsInfinity(min)
            ? throw new InvalidOperationException("the observer saw no values")
            : QuantizationGrid.FromRanges([min], [max], bits, symmetric, axis: null);
}
