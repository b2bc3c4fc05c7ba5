using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>Chooses which weights to prune: returns a flat keep-mask (true = kept) for the requested sparsity.</summary>
public interface ISelection
{
    Tensor SelectKeep(PruningContext context, double sparsity);
}

/// <summary>Changes the kept weights to compensate for the pruned ones (pruned weights must end exactly zero).</summary>
public interface IWeightUpdate
{
    void Update(PruningContext context, Tensor keep);
}

/// <summary>A pruning method is a selection, optionally followed by an update: any selection can feed any update.</summary>
public sealed record PruningMethod(string Name, string Description, ISelection Selection, IWeightUpdate? Update = null)
{
    /// <summary>The selection or the update uses the empirical Fisher (and so the training data).</summary>
    public bool UsesFisher => Selection is Curvature.IUsesFisher || Update is Curvature.IUsesFisher;

    /// <summary>Selects, updates if the method has an update, and applies the mask so pruned weights are exact zeros.</summary>
    public MaskSet Prune(PruningContext context, double sparsity)
    {
        SparsityTarget.Validate(sparsity);
        using var scope = NewDisposeScope();
        var keep = Selection.SelectKeep(context, sparsity);
        Update?.Update(context, keep);
        var masks = new MaskSet(context.Parameters, keep);
        masks.Apply();
        return masks;
    }
}
