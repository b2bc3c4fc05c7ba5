using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>
/// The grid of [x_(M+1−r), x_(r)], r = ⌈p/100 · M⌉, of the M values seen sorted ascending (the nearest-rank p-th
/// percentile and its mirror), so the (100 − p) % largest and smallest values clip. Exact, without keeping all M
/// values: the top k = M − r + 1 and the bottom k are kept across batches (k ≤ M/10 + 1 for p ≥ 90); M must be known
/// up front.
/// </summary>
internal sealed class PercentileObserver : IActivationObserver
{
    private readonly long total;
    private readonly int keep;
    private Tensor? top, bottom;
    private long seen;

    public PercentileObserver(double percentile, long totalValues)
    {
        if (!(percentile > 0 && percentile <= 100)) throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "in (0, 100]");
        if (totalValues < 1) throw new ArgumentOutOfRangeException(nameof(totalValues), totalValues, "at least one value");
        total = totalValues;
        // In decimal, so that p = 99.99 of M = 10,000 is rank 9,999 exactly (in double it is 9,999.000000000002).
        long rank = Math.Max(1, (long)Math.Ceiling((decimal)percentile / 100 * totalValues));
        keep = checked((int)(totalValues - rank + 1));
    }

    /// <summary>The (low, high) percentiles; every one of the M values must have been observed.</summary>
    public (double Low, double High) Range
    {
        get
        {
            if (seen != total || top is null || bottom is null)
                throw new InvalidOperationException($"the percentile observer expected {total} values but saw {seen}");
            return (bottom.max().to(ScalarType.Float64).item<double>(), top.min().to(ScalarType.Float64).item<double>());
        }
    }

    public void Observe(Tensor values)
    {
        using var scope = NewDisposeScope();
        var flat = values.detach().to(ScalarType.Float32).flatten();
        seen += flat.numel();
        if (seen > total)
            throw new InvalidOperationException($"the percentile observer expected {total} values but got more");
        top = Merge(top, flat, largest: true);
        bottom = Merge(bottom, flat, largest: false);
    }

    public TensorQuantization Grid(int bits, bool symmetric)
    {
        var (low, high) = Range;
        return QuantizationGrid.FromRanges([low], [high], bits, symmetric, axis: null);
    }

    private Tensor Merge(Tensor? kept, Tensor batch, bool largest)
    {
        var candidates = kept is null ? batch : cat([kept, batch], 0);
        int k = (int)Math.Min(keep, candidates.numel());
        var result = candidates.topk(k, largest: largest).values.DetachFromDisposeScope();
        kept?.Dispose();
        return result;
    }
}
