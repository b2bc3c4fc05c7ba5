using static TorchSharp.torch;

namespace Surgeon.Compression;

/// <summary>Sparsity of one prunable layer.</summary>
public sealed record LayerSparsity(string Name, long Total, long Pruned)
{
    /// <summary>The pruned fraction of the layer's weights.</summary>
    public double Sparsity => Total == 0 ? 0 : (double)Pruned / Total;
}

/// <summary>
/// A keep-mask over all prunable weights, stored as one flat boolean vector in <see cref="PrunableParameters"/> order
/// (true = kept). Applying it multiplies each weight by its mask, so a pruned model is an ordinary model with exact zeros.
/// </summary>
public sealed class MaskSet : IDisposable
{
    /// <summary>A mask over <paramref name="parameters"/> from a flat bool keep-vector in their order (copied).</summary>
    public MaskSet(IReadOnlyList<PrunableParameter> parameters, Tensor keep)
    {
        long total = PrunableParameters.TotalCount(parameters);
        if (keep.numel() != total || keep.dtype != ScalarType.Bool)
            throw new ArgumentException($"mask must be a bool vector of {total} entries, got {keep.dtype} with {keep.numel()}");
        Parameters = parameters;
        Keep = keep.flatten().detach().clone().DetachFromDisposeScope();
    }

    /// <summary>The weights the mask covers, in the order of <see cref="Keep"/>.</summary>
    public IReadOnlyList<PrunableParameter> Parameters { get; }

    /// <summary>Flat keep-mask, true where the weight survives.</summary>
    public Tensor Keep { get; }

    /// <summary>A mask that keeps every weight.</summary>
    public static MaskSet Dense(IReadOnlyList<PrunableParameter> parameters)
    {
        using var scope = NewDisposeScope();
        return new MaskSet(parameters, ones(PrunableParameters.TotalCount(parameters), ScalarType.Bool));
    }

    /// <summary>Weights covered.</summary>
    public long Total => Keep.numel();
    /// <summary>Weights pruned (false in <see cref="Keep"/>).</summary>
    public long PrunedCount => Total - Keep.sum().item<long>();
    /// <summary>The pruned fraction of the covered weights.</summary>
    public double Sparsity => (double)PrunedCount / Total;

    /// <summary>The keep-mask of one parameter, shaped like its weight.</summary>
    public Tensor LayerMask(int index)
    {
        long offset = Parameters.Take(index).Sum(p => p.Count);
        var p = Parameters[index];
        return Keep.narrow(0, offset, p.Count).view(p.Shape);
    }

    /// <summary>Zeros the pruned weights in place.</summary>
    public void Apply()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < Parameters.Count; i++)
        {
            var w = Parameters[i].Weight;
            w.mul_(LayerMask(i).to(w.device).to_type(w.dtype));
        }
    }

    /// <summary>Per layer: weights, pruned, sparsity.</summary>
    public IReadOnlyList<LayerSparsity> PerLayer()
    {
        using var scope = NewDisposeScope();
        var rows = new List<LayerSparsity>();
        for (int i = 0; i < Parameters.Count; i++)
        {
            long kept = LayerMask(i).sum().item<long>();
            rows.Add(new LayerSparsity(Parameters[i].Name, Parameters[i].Count, Parameters[i].Count - kept));
        }
        return rows;
    }

    /// <summary>Releases the keep tensor.</summary>
    public void Dispose() => Keep.Dispose();
}
