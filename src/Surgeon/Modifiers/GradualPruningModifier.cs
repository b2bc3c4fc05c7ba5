using Surgeon.Compression;
using Surgeon.Progress;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// Gradual pruning (recipe name gradual-pruning): at the optimiser steps of a <see cref="PolynomialSparsitySchedule"/>
/// (step 0 = before training), prune with any weight method to that step's sparsity; after the last pruning step the
/// training goes on as fine-tuning. The mask only ever grows: a method chooses from all weights and its new mask is
/// intersected with the current one (so neither a selection nor an OBS update revives a weight), and it is re-applied after every optimiser step, so pruned weights are exact zeros whatever momentum and
/// weight decay do. Pruning happens before that step's re-application, on the weights the optimiser left.
/// </summary>
internal sealed class GradualPruningModifier(PruningMethod method, PolynomialSparsitySchedule schedule) : TrainingModifier
{
    private IReadOnlyList<PrunableParameter>? parameters;

    public override string Name => "gradual-pruning";
    public PruningMethod Method { get; } = method.PrunesFilters
        ? throw new SurgeonException($"{method.Name}: gradual pruning holds a mask of single weights; @filter removes filters (prune-while-training does that)")
        : method;
    public PolynomialSparsitySchedule Schedule { get; } = schedule;
    public PruningOptions Options { get; init; } = new();
    /// <summary>Which weights the method prunes (and which zeros are held).</summary>
    public PrunableSet Prunable { get; init; } = PrunableSet.All;
    public override ActiveRange Range => new(Schedule.Start, Schedule.Start + Schedule.Steps, InSteps: true);
    public override bool OwnsMask => true;

    public override void RunStart(TrainingLoop loop)
    {
        Schedule.Validate();
        if (Schedule.Start + Schedule.Steps > loop.TotalSteps)
            throw new SurgeonException($"the schedule runs to step {Schedule.Start + Schedule.Steps} but training has only {loop.TotalSteps} ({loop.Options.Epochs} epochs × {loop.BatchesPerEpoch} batches); lower the steps or add epochs");
        parameters = PrunableParameters.Discover(loop.Model, Prunable);
        // A final sparsity that prunes no weight (0, −0, a subnormal, one that rounds to zero) fails before training.
        SparsityTarget.PruneCount(Schedule.Final, PrunableParameters.TotalCount(parameters));
        loop.Mask ??= FixedMaskModifier.NonzeroPattern(parameters);
        PruneIfScheduled(loop);
    }

    public override void AfterStep(TrainingLoop loop)
    {
        PruneIfScheduled(loop);
        loop.Mask!.Apply();
    }

    private void PruneIfScheduled(TrainingLoop loop)
    {
        long step = loop.Steps - Schedule.Start;
        var current = loop.Mask!;
        if (!Schedule.PrunesAt(step)) return;
        double target = Schedule.SparsityAt(step);
        if (target <= current.Sparsity) return;
        var model = loop.Model;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            var context = new PruningContext
            {
                Model = model,
                Parameters = parameters!,
                TrainData = loop.TrainData,
                Seed = unchecked(loop.Options.Seed * 1_000_003 + (int)loop.Steps),
                Device = loop.Device,
                Progress = NullProgress.Instance,
                Options = Options,
            };
            using var chosen = Method.Prune(context, target);
            context.ReleaseCache();
            MaskSet next;
            using (var scope = NewDisposeScope())
                next = new MaskSet(parameters!, chosen.Mask!.Keep.logical_and(current.Keep));
            next.Apply();
            loop.Progress.Info($"step {loop.Steps}: {Method.Name} to sparsity {target:P2} (now {next.Sparsity:P2})");
            loop.Mask = next;
            current.Dispose();
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }
}
