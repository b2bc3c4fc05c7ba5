using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>An epoch or optimiser-step range over which a modifier acts; ends are inclusive, null = open.</summary>
public sealed record ActiveRange(long? Start, long? End, bool InSteps)
{
    /// <summary>Every epoch and step.</summary>
    public static readonly ActiveRange Always = new(null, null, false);

    /// <summary>Whether epoch <paramref name="epoch"/> (1-based) or step <paramref name="step"/> lies in the range.</summary>
    public bool Contains(int epoch, long step)
    {
        long at = InSteps ? step : epoch;
        return (Start is null || at >= Start) && (End is null || at <= End);
    }

    /// <summary>The range in optimiser steps, for comparing ranges given in different units.</summary>
    public (long Start, long End) InStepsOf(int batchesPerEpoch) => InSteps
        ? (Start ?? 0, End ?? long.MaxValue)
        : ((Start ?? 0) * batchesPerEpoch, End is null ? long.MaxValue : End.Value * batchesPerEpoch);

    /// <summary>E.g. "epochs 3–end".</summary>
    public override string ToString() => $"{(InSteps ? "steps" : "epochs")} {Start?.ToString() ?? "start"}–{End?.ToString() ?? "end"}";
}

/// <summary>
/// A modifier of the training loop: gradual pruning, pruning while training, fixed masks, the dynamics log, and later
/// ADMM, AutoPrune, quantisation-aware training or rank updates. It hooks the run (start and end), each epoch (start,
/// end), each optimiser step (before it, with the gradients computed; after it), may add a term to the loss, hears when
/// the model is replaced (filters removed) and when another modifier announces an event, and acts over
/// <see cref="Range"/>. It can also wrap a layer's forward (register a forward hook on <see cref="TrainingLoop.Model"/>
/// at <see cref="RunStart"/>, again at <see cref="ModelReplaced"/>) and own trainable tensors with their own optimiser
/// (create them at <see cref="RunStart"/>, step them in <see cref="AfterStep"/>: their gradients come from the same
/// backward pass through <see cref="ExtraLoss"/> or the wrapped forward). Every hook does nothing unless overridden.
/// </summary>
public abstract class TrainingModifier
{
    /// <summary>The recipe name, e.g. "gradual-pruning".</summary>
    public abstract string Name { get; }

    /// <summary>Where the modifier acts (pruning steps, a fixed mask's epochs…); recipes refuse contradictory overlaps.</summary>
    public virtual ActiveRange Range => ActiveRange.Always;

    /// <summary>True when the modifier decides which weights are pruned: two of them may not act over overlapping ranges.</summary>
    public virtual bool OwnsMask => false;

    /// <summary>Called once before the first epoch.</summary>
    public virtual void RunStart(TrainingLoop loop) { }
    /// <summary>Called at the start of each epoch.</summary>
    public virtual void EpochStart(TrainingLoop loop) { }
    /// <summary>After the backward pass, before the optimiser step (gradients are in <c>.grad</c>).</summary>
    public virtual void BeforeStep(TrainingLoop loop) { }
    /// <summary>Called after each optimiser step.</summary>
    public virtual void AfterStep(TrainingLoop loop) { }
    /// <summary>Called after each epoch with its statistics.</summary>
    public virtual void EpochEnd(TrainingLoop loop, EpochStats stats) { }
    /// <summary>Called once after the last epoch.</summary>
    public virtual void RunEnd(TrainingLoop loop) { }

    /// <summary>A term added to the batch's loss before the backward pass (e.g. ADMM's ρ/2‖W − Z + U‖²), or null.</summary>
    public virtual Tensor? ExtraLoss(TrainingLoop loop, Tensor logits, Tensor labels) => null;

    /// <summary>The loop now trains another model (<see cref="TrainingLoop.Model"/>); <paramref name="previous"/> is the old one.</summary>
    public virtual void ModelReplaced(TrainingLoop loop, nn.Module<Tensor, Tensor> previous) { }

    /// <summary>Another modifier announced <paramref name="what"/> (e.g. a pruning round), with the model's test result then.</summary>
    public virtual void Event(TrainingLoop loop, string what, EvalResult? test) { }
}
