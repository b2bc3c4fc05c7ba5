using Surgeon.Data;
using Surgeon.Progress;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>
/// Gradual pruning with fine-tuning: train with SGD and, at the steps of a <see cref="PolynomialSparsitySchedule"/>,
/// prune with any method to that step's sparsity; after the last pruning step the training continues as fine-tuning.
/// Without a schedule it only fine-tunes, holding the zeros the model already has (a pruned checkpoint).
/// The mask only ever grows: a method's new mask is intersected with the current one, so a weight once pruned is
/// never revived by a later selection or OBS update, and it is re-applied after every optimiser step, so pruned
/// weights are exact zeros whatever momentum and weight decay do.
/// </summary>
public sealed class GradualPruning(TrainOptions train, Device? device = null, IProgressReporter? progress = null)
{
    private readonly Device device = device ?? CPU;
    private readonly IProgressReporter progress = progress ?? NullProgress.Instance;

    public PruningMethod? Method { get; init; }
    public PolynomialSparsitySchedule? Schedule { get; init; }
    public PruningOptions Options { get; init; } = new();
    /// <summary>Which weights the method prunes (and which zeros are held).</summary>
    public PrunableSet Prunable { get; init; } = PrunableSet.All;
    /// <summary>Called after each epoch with its statistics and the current sparsity.</summary>
    public Action<EpochStats, double>? AfterEpoch { get; init; }

    /// <summary>Trains <paramref name="model"/> in place and returns the final mask (the caller disposes it).</summary>
    public MaskSet Run(nn.Module<Tensor, Tensor> model, ImageDataset trainData, ImageDataset? test)
    {
        if ((Method is null) != (Schedule is null))
            throw new SurgeonException("gradual pruning needs both a method and a schedule (or neither, to fine-tune only)");
        Schedule?.Validate();
        var parameters = PrunableParameters.Discover(model, Prunable);
        MaskSet mask;
        using (var scope = NewDisposeScope())
            mask = new MaskSet(parameters, PrunableParameters.Flatten(parameters).ne(HeldZero).detach());
        try
        {
            using var session = new TrainingSession(train, model, trainData, device);
            long totalSteps = (long)train.Epochs * session.BatchesPerEpoch;
            if (Schedule is { } s && s.Steps > totalSteps)
                throw new SurgeonException($"the schedule runs {s.Steps} steps but training has only {totalSteps} ({train.Epochs} epochs × {session.BatchesPerEpoch} batches); lower the steps or add epochs");
            mask = PruneIfScheduled(model, parameters, trainData, mask, 0);
            session.AfterStep = () =>
            {
                mask = PruneIfScheduled(model, parameters, trainData, mask, session.Steps);
                mask.Apply();
            };
            using var task = progress.Start("gradual pruning and fine-tuning", totalSteps);
            for (int epoch = 0; epoch < train.Epochs; epoch++)
            {
                var stats = session.RunEpoch(test, task);
                task.Description = $"epoch {stats.Epoch}/{train.Epochs}: sparsity {mask.Sparsity:P1}, loss {stats.TrainLoss:F4}, test acc {stats.TestAccuracy:P2}";
                AfterEpoch?.Invoke(stats, mask.Sparsity);
            }
            return mask;
        }
        catch
        {
            mask.Dispose();
            throw;
        }
    }

    private static readonly Scalar HeldZero = Numerics.HeldScalars.Of(0);

    private MaskSet PruneIfScheduled(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        ImageDataset trainData, MaskSet current, long step)
    {
        if (Schedule is not { } schedule || Method is null || !schedule.PrunesAt(step)) return current;
        double target = schedule.SparsityAt(step);
        if (target <= current.Sparsity) return current;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            var context = new PruningContext
            {
                Model = model,
                Parameters = parameters,
                TrainData = trainData,
                Seed = unchecked(train.Seed * 1_000_003 + (int)step),
                Device = device,
                Progress = NullProgress.Instance,
                Options = Options,
            };
            using var chosen = Method.Prune(context, target);
            context.ReleaseCache();
            MaskSet next;
            using (var scope = NewDisposeScope())
                next = new MaskSet(parameters, chosen.Keep.logical_and(current.Keep));
            next.Apply();
            progress.Info($"step {step}: {Method.Name} to sparsity {target:P2} (now {next.Sparsity:P2})");
            current.Dispose();
            return next;
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }
}
