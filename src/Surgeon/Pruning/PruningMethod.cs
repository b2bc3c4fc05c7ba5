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

    /// <summary>
    /// Selects, updates if the method has an update, and applies the mask so pruned weights are exact zeros. Weights that
    /// end NaN or infinite (an update that overflowed float32) are a <see cref="SurgeonException"/> naming the method and
    /// the options that cause it; the model's weights are then left as the update made them (callers restore or discard).
    /// </summary>
    public MaskSet Prune(PruningContext context, double sparsity)
    {
        SparsityTarget.Validate(sparsity);
        using var scope = NewDisposeScope();
        if (UsesFisher) Curvature.FisherProvider.Prepare(context, Name, FisherBookkeepingBytesPerWeight, LossEvaluationExamples(context.Options));
        var keep = Selection.SelectKeep(context, sparsity);
        Update?.Update(context, keep);
        var masks = new MaskSet(context.Parameters, keep);
        masks.Apply();
        if (FirstNonFinite(context.Parameters) is { } layer)
        {
            masks.Dispose();
            throw new SurgeonException($"{Name} at sparsity {sparsity.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} made weights of {layer} NaN or infinite" +
                (Update is null ? " (were the model's weights finite?)" : $": its update overflowed float32; {UpdateAdvice(context.Options)}"));
        }
        return masks;
    }

    /// <summary>What to change when an update overflows: the update scale when it is not 1, else the damping.</summary>
    public static string UpdateAdvice(PruningOptions options)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        return options.UpdateScale != 1
            ? $"--update-scale {options.UpdateScale.ToString("G4", c)} is too large, lower it (1 is the full OBS update)"
            : $"raise --lambda (now {options.Lambda.ToString("G4", c)})";
    }

    private static string? FirstNonFinite(IReadOnlyList<PrunableParameter> parameters)
    {
        using var scope = NewDisposeScope();
        return parameters.FirstOrDefault(p => !p.Weight.isfinite().all().item<bool>())?.Name;
    }
}
