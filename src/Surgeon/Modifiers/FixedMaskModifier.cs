using Surgeon.Compression;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// Fine-tuning with a fixed mask (recipe name fixed-mask): the weights the run holds pruned (<see cref="TrainingLoop.Mask"/>,
/// set from the checkpoint's stored masks; for a checkpoint without them, its zeros) are re-applied after every
/// optimiser step, so they stay exact zeros; every other weight trains.
/// </summary>
internal sealed class FixedMaskModifier : TrainingModifier
{
    public override string Name => "fixed-mask";
    public override bool OwnsMask => true;
    /// <summary>Which weights the mask covers when it is made from the model's zeros.</summary>
    public PrunableSet Prunable { get; init; } = PrunableSet.All;

    public override void RunStart(TrainingLoop loop) =>
        loop.Mask ??= NonzeroPattern(PrunableParameters.Discover(loop.Model, Prunable));

    public override void AfterStep(TrainingLoop loop) => loop.Mask?.Apply();

    /// <summary>The mask that keeps every nonzero weight of <paramref name="parameters"/> (the zeros are pruned).</summary>
    public static MaskSet NonzeroPattern(IReadOnlyList<PrunableParameter> parameters)
    {
        using var scope = NewDisposeScope();
        return new MaskSet(parameters, PrunableParameters.Flatten(parameters).ne(Numerics.HeldScalars.Of(0)).detach());
    }
}
