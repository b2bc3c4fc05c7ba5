using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// The grid of least squared error (<see cref="ClippingSearch"/>) for the values seen, clipping factors applied to the
/// exact [min, max] of all of them. The search runs on every s-th value in the order seen, s = ⌈M / budget⌉, so at most
/// the budget is kept (all values when M ≤ budget).
/// </summary>
internal sealed class MseObserver : IActivationObserver
{
    private readonly MinMaxObserver range = new();
    private readonly List<Tensor> sample = [];
    private readonly long stride;
    private readonly int gridPoints;
    private long seen;

    public MseObserver(long totalValues, int budget, int gridPoints)
    {
        if (totalValues < 1 || budget < 1) throw new ArgumentOutOfRangeException(nameof(totalValues), "at least one value and one kept");
        stride = (totalValues + budget - 1) / budget;
        this.gridPoints = gridPoints;
    }

    public void Observe(Tensor values)
    {
        range.Observe(values);
        using var scope = NewDisposeScope();
        var flat = values.detach().to(ScalarType.Float32).flatten();
        long n = flat.numel();
        long first = (stride - seen % stride) % stride; // the next index, counted over all values, that is a multiple of s
        if (first < n)
            sample.Add(flat.slice(0, first, n, stride).clone().DetachFromDisposeScope());
        seen += n;
    }

    public TensorQuantization Grid(int bits, bool symmetric)
    {
        if (sample.Count == 0) throw new InvalidOperationException("the observer saw no values");
        using var scope = NewDisposeScope();
        var (min, max) = range.Range;
        var rows = cat(sample, 0).reshape(1, -1);
        return ClippingSearch.Search(rows, bits, symmetric, gridPoints, [min], [max]) with { Axis = null };
    }
}
