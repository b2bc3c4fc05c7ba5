using static TorchSharp.torch;

namespace Surgeon.Data;

/// <summary>
/// The training samples a data-dependent measure averages over, served in batches. Each batch is created when asked
/// for, so a caller that asks inside <c>NewDisposeScope</c> frees it with the scope.
/// </summary>
public sealed class ScoringData
{
    private readonly Func<int, int, (Tensor Inputs, Tensor Labels)> slice;

    private ScoringData(Func<int, int, (Tensor, Tensor)> slice, int sampleCount, int batchSize, long[] sampleShape)
    {
        if (sampleCount <= 0)
            throw new SurgeonException("scoring needs at least one training sample");
        if (batchSize <= 0)
            throw new SurgeonException($"scoring batch size must be positive, got {batchSize}");
        this.slice = slice;
        SampleCount = sampleCount;
        BatchSize = batchSize;
        SampleShape = sampleShape;
    }

    /// <summary>The samples <paramref name="indices"/> of a dataset (e.g. <see cref="ImageDataset.RandomSubset"/>).</summary>
    public static ScoringData FromDataset(ImageDataset data, IReadOnlyList<int> indices, int batchSize = 100,
        Device? device = null)
    {
        var idx = indices.ToArray();
        return new ScoringData((start, count) => data.Batch(idx.AsSpan(start, count), device), idx.Length, batchSize,
            data.SampleShape.Select(s => (long)s).ToArray());
    }

    /// <summary>In-memory inputs [N, ...] and int64 labels [N]; the caller keeps ownership of both tensors.</summary>
    public static ScoringData FromTensors(Tensor inputs, Tensor labels, int batchSize = 100)
    {
        if (inputs.dim() < 1 || labels.dim() != 1 || inputs.shape[0] != labels.shape[0])
            throw new SurgeonException(
                $"inputs [{string.Join(", ", inputs.shape)}] and labels [{string.Join(", ", labels.shape)}] do not describe one set of samples");
        return new ScoringData((start, count) => (inputs.narrow(0, start, count), labels.narrow(0, start, count)),
            (int)inputs.shape[0], batchSize, inputs.shape[1..]);
    }

    /// <summary>Number of samples.</summary>
    public int SampleCount { get; }
    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Number of batches.</summary>
    public int BatchCount => (SampleCount + BatchSize - 1) / BatchSize;

    /// <summary>Shape of one input sample (without the batch dimension).</summary>
    public long[] SampleShape { get; }

    /// <summary>Batch <paramref name="index"/>: inputs and labels, in the caller's dispose scope.</summary>
    public (Tensor Inputs, Tensor Labels) Batch(int index)
    {
        if (index < 0 || index >= BatchCount)
            throw new ArgumentOutOfRangeException(nameof(index), $"batch {index} outside 0..{BatchCount - 1}");
        int start = index * BatchSize;
        return slice(start, Math.Min(BatchSize, SampleCount - start));
    }

    /// <summary>The same source restricted to its first batch (SNIP scores on one minibatch).</summary>
    public ScoringData FirstBatchOnly() =>
        new(slice, Math.Min(BatchSize, SampleCount), BatchSize, SampleShape);
}
