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

    /// <summary>Bytes per weight the selection and the update hold beside the Fisher, summed: the selection's arrays may
    /// still be alive (or awaiting collection) while the update runs.</summary>
    public int FisherBookkeepingBytesPerWeight =>
        ((Selection as Curvature.IUsesFisher)?.BookkeepingBytesPerWeight ?? 0) + ((Update as Curvature.IUsesFisher)?.BookkeepingBytesPerWeight ?? 0);

    /// <summary>The largest forward pass (in examples) the selection or the update runs beside the Fisher.</summary>
    public int LossEvaluationExamples(PruningOptions options) => Math.Max(
        (Selection as Curvature.IUsesFisher)?.LossEvaluationExamples(options) ?? 0,
        (Update as Curvature.IUsesFisher)?.LossEvaluationExamples(options) ?? 0);

    /// <summary>Selects, updates if the method has an update, and applies the mask so pruned weights are exact zeros.</summary>
    public MaskSet Prune(PruningContext context, double sparsity)
    {
        SparsityTarget.Validate(sparsity);
        using var scope = NewDisposeScope();
        if (UsesFisher) Curvature.FisherProvider.Prepare(context, Name, FisherBookkeepingBytesPerWeight, LossEvaluationExamples(context.Options));
        var keep = Selection.SelectKeep(context, sparsity);
        Update?.Update(context, keep);
        var masks = new MaskSet(context.Parameters, keep);
        masks.Apply();
        return masks;
    }
}
