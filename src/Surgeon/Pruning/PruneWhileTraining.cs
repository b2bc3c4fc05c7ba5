using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Progress;
using Surgeon.Reports;
using Surgeon.Scoring;
using Surgeon.Selection;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>What to prune while training, and how to record the training dynamics.</summary>
public sealed record PruneWhileTrainingOptions
{
    /// <summary>Importance measure by registry name (<see cref="ImportanceMeasures"/>); null trains without pruning.</summary>
    public string? Measure { get; init; }
    public FilterPruningSchedule? Schedule { get; init; }
    /// <summary>True: remove whole filters (needs a model with filter groups). False: prune single weights (masks).</summary>
    public bool Structured { get; init; } = true;
    /// <summary>Training samples the scores' mean gradient ḡ (and Hḡ) are taken over.</summary>
    public int ScoreSamples { get; init; } = 1000;
    /// <summary>Training samples (at most; fewer when the training set is smaller) for the gradient-flow quantities of the
    /// dynamics log; 0 records loss and size only.</summary>
    public int DynamicsSamples { get; init; } = 500;
    /// <summary>Also record the dynamics every this many optimiser steps; 0 = once per epoch.</summary>
    public int DynamicsEverySteps { get; init; }

    public void Validate(int epochs, int trainCount)
    {
        if ((Measure is null) != (Schedule is null))
            throw new SurgeonException("pruning while training needs both a measure (--prune-measure) and a target (--prune-target)");
        Schedule?.Validate(epochs);
        if (Measure is not null)
        {
            var measure = ImportanceMeasures.Create(Measure); // unknown names fail here, before any training
            if (!Structured && measure.Aggregation == FilterAggregation.NormScale)
                throw new SurgeonException($"{Measure} scores whole filters (BatchNorm scales), not single weights; use --prune-structure filters");
        }
        if (Measure is not null && (ScoreSamples < 1 || ScoreSamples > trainCount))
            throw new SurgeonException($"--score-samples must be in 1..{trainCount} (the training set), got {ScoreSamples}");
        if (DynamicsSamples < 0)
            throw new SurgeonException($"--dynamics-samples must be ≥ 0, got {DynamicsSamples}");
        if (DynamicsEverySteps < 0)
            throw new SurgeonException($"--dynamics-every must be ≥ 0, got {DynamicsEverySteps}");
    }
}

/// <summary>
/// Lubana &amp; Dick's protocol for pruning early in training: train; after epoch t (0 = at initialisation) score with the
/// chosen measure and prune the fraction p_k of the current filters globally, rebuild the smaller network, and go on for
/// n rounds (<see cref="FilterPruningSchedule"/>); then train the remaining epochs. Filters of removable groups are
/// removed (the model shrinks); those of non-removable groups (ResNet's residual stream) are masked and kept at zero
/// after every step. Unstructured mode prunes single weights to the same schedule with masks. The dynamics of the
/// paper (loss, accuracy, ‖θ‖², θᵀg, ‖g‖², θᵀHg, parameters and FLOPs) are recorded before training, after every epoch
/// and after every pruning round.
/// </summary>
public sealed class PruneWhileTraining
{
    private readonly TrainOptions train;
    private readonly PruneWhileTrainingOptions prune;
    private readonly Device device;
    private readonly IProgressReporter progress;
    private readonly Dictionary<string, SortedSet<long>> masked = [];
    private MaskSet? weightMask;

    public PruneWhileTraining(TrainOptions train, PruneWhileTrainingOptions prune, Device? device = null,
        IProgressReporter? progress = null)
    {
        train.Validate();
        this.train = train;
        this.prune = prune;
        this.device = device ?? CPU;
        this.progress = progress ?? NullProgress.Instance;
    }

    /// <summary>Called after every epoch with its statistics.</summary>
    public Action<EpochStats>? AfterEpoch { get; init; }

    /// <summary>Trains (and prunes); returns the final model, which may be a new, smaller one.</summary>
    public nn.Module<Tensor, Tensor> Run(nn.Module<Tensor, Tensor> model, ImageDataset trainData, ImageDataset? test,
        DynamicsLog log)
    {
        prune.Validate(train.Epochs, trainData.Count);
        if (prune.Measure is not null && prune.Structured && model is not IStructuredModel)
            throw new SurgeonException($"filter pruning needs a conv model with filter groups ({string.Join(", ", ModelRegistry.Names.Where(n => n != "mlpnet"))}); use --prune-structure weights for this model");
        if (prune.Measure is not null && prune.Schedule is { } schedule)
        {
            // A target that rounds to nothing (0 and −0 included) is a mistake to report before training, not a silent
            // no-op after it.
            long units = prune.Structured
                ? ((IStructuredModel)model).FilterGroups.Sum(g => (long)g.Channels)
                : PrunableParameters.TotalCount(PrunableParameters.Discover(model));
            if ((long)Math.Floor(schedule.FractionAt(1) * units + 1e-9) == 0)
                throw new SurgeonException(
                    $"--prune-target {schedule.Target} removes no {(prune.Structured ? "filters" : "weights")} of {units} in round 1 of {schedule.Rounds}; raise --prune-target or lower --prune-rounds");
        }
        var measure = prune.Measure is null ? null : ImportanceMeasures.Create(prune.Measure);
        // Fixed, seeded samples, so successive scores and records compare like with like.
        var scoreData = measure is null
            ? null
            : ScoringData.FromDataset(trainData, trainData.RandomSubset(prune.ScoreSamples, train.Seed + 1), device: device);
        var dynamicsData = prune.DynamicsSamples == 0
            ? null
            : ScoringData.FromDataset(trainData, trainData.RandomSubset(Math.Min(prune.DynamicsSamples, trainData.Count), train.Seed + 2), device: device);

        // A run starts with nothing pruned, also when this driver ran before.
        masked.Clear();
        weightMask?.Dispose();
        weightMask = null;
        using var session = new TrainingSession(train, model, trainData, device);
        session.AfterStep = () =>
        {
            KeepPruned(session.Model);
            if (prune.DynamicsEverySteps > 0 && session.Steps % prune.DynamicsEverySteps == 0)
                log.Add(Record(session.Model, dynamicsData, session.EpochsDone, session.Steps, trainData) with { Event = "step" });
        };
        log.Add(Record(model, dynamicsData, 0, 0, trainData) with { Event = "initialisation" });
        using var task = progress.Start("training", (double)train.Epochs * session.BatchesPerEpoch);
        for (int epoch = 0; epoch <= train.Epochs; epoch++)
        {
            int round = prune.Schedule?.RoundAfter(epoch) ?? 0;
            if (round > 0 && measure is not null)
            {
                string what = PruneRound(session, measure, scoreData, round);
                // The test loss and accuracy of the just-pruned model, before any retraining: each measure's immediate damage.
                var record = Record(session.Model, dynamicsData, epoch, session.Steps, trainData) with { Event = what };
                if (test is not null)
                {
                    var pruned = Evaluator.Evaluate(session.Model, test, device: device);
                    record = record with { TestLoss = pruned.Loss, TestAccuracy = pruned.Accuracy };
                    what += $"; before retraining: test loss {pruned.Loss:F4}, test acc {pruned.Accuracy:P2}";
                }
                log.Add(record);
                progress.Info($"after epoch {epoch}: {what}");
            }
            if (epoch == train.Epochs) break;
            var stats = session.RunEpoch(test, task);
            task.Description = $"training: epoch {stats.Epoch}/{train.Epochs}, loss {stats.TrainLoss:F4}, test acc {stats.TestAccuracy:P2}";
            log.Add(Record(session.Model, dynamicsData, stats.Epoch, session.Steps, trainData) with
            {
                LearningRate = stats.LearningRate,
                TrainLoss = stats.TrainLoss,
                TrainAccuracy = stats.TrainAccuracy,
                TestLoss = stats.TestLoss,
                TestAccuracy = stats.TestAccuracy,
            });
            AfterEpoch?.Invoke(stats);
        }
        session.Model.eval();
        weightMask?.Dispose(); // applied: the pruned weights are exact zeros in the model
        weightMask = null;
        return session.Model;
    }

    private string PruneRound(TrainingSession session, IImportanceMeasure measure, ScoringData? scoreData, int round)
    {
        var schedule = prune.Schedule!;
        double fraction = schedule.FractionAt(round);
        using var scope = NewDisposeScope();
        if (!prune.Structured)
        {
            var parameters = PrunableParameters.Discover(session.Model);
            var scores = WeightScores.Compute(measure, session.Model, scoreData, parameters);
            long alive = weightMask is null ? PrunableParameters.TotalCount(parameters) : weightMask.Total - weightMask.PrunedCount;
            long already = weightMask?.PrunedCount ?? 0;
            long count = already + (long)Math.Floor(fraction * alive + 1e-9);
            var next = ScoreSelection.KeepTop(parameters, scores, count, weightMask);
            weightMask?.Dispose();
            weightMask = next;
            weightMask.Apply();
            return $"pruned {fraction:P1} of the remaining weights with {measure.Name} (round {round}/{schedule.Rounds}), sparsity {weightMask.Sparsity:P1}";
        }

        var model = (IStructuredModel)session.Model;
        var groups = model.FilterGroups;
        var groupScores = FilterScores.Compute(measure, session.Model, groups, scoreData).ToList();
        // Masked channels of non-removable groups are already gone: they go first (−∞) and do not count as current filters.
        long total = groups.Sum(g => (long)g.Channels), gone = 0;
        for (int i = 0; i < groupScores.Count; i++)
            if (masked.TryGetValue(groupScores[i].Group.Name, out var set))
            {
                var s = (double[])groupScores[i].Scores.Clone();
                foreach (long c in set) s[c] = double.NegativeInfinity;
                groupScores[i] = groupScores[i] with { Scores = s };
                gone += set.Count;
            }
        long current = total - gone;
        long toRemove = (long)Math.Floor(fraction * current + 1e-9);
        var keep = FilterSelection.PruneGlobal(groupScores, (double)(gone + toRemove) / total);
        foreach (var g in groups.Where(g => !g.Removable))
        {
            var set = masked.TryGetValue(g.Name, out var existing) ? existing : masked[g.Name] = [];
            var kept = keep[g.Name].ToHashSet();
            for (long c = 0; c < g.Channels; c++)
                if (!kept.Contains(c)) set.Add(c);
        }
        var before = session.Model;
        var smaller = model.Shrink(keep);
        session.ReplaceModel(smaller);
        before.Dispose();
        long after = ((IStructuredModel)smaller).FilterGroups.Sum(g => (long)g.Channels) - masked.Values.Sum(s => (long)s.Count);
        return $"pruned {fraction:P1} of the current filters with {measure.Name} (round {round}/{schedule.Rounds}): {current:N0} → {after:N0} filters";
    }

    /// <summary>Holds pruned weights and masked channels at exactly zero after an optimiser step.</summary>
    private void KeepPruned(nn.Module<Tensor, Tensor> model)
    {
        weightMask?.Apply();
        if (masked.Count == 0) return;
        foreach (var g in ((IStructuredModel)model).FilterGroups)
            if (masked.TryGetValue(g.Name, out var set) && set.Count > 0)
                FilterMasking.Zero(model, g, set.ToList());
    }

    private DynamicsRecord Record(nn.Module<Tensor, Tensor> model, ScoringData? data, int epoch, long step, ImageDataset trainData)
    {
        var cost = ModelCost.Measure(model, trainData.SampleShape);
        var record = new DynamicsRecord { Epoch = epoch, Step = step, Parameters = cost.NonzeroParameters, Flops = cost.NonzeroFlops };
        if (data is null) return record;
        var stats = GradientFlowStats.Compute(model, data);
        return record with
        {
            ThetaNormSquared = stats.ParamNormSquared,
            ThetaDotGrad = stats.ThetaDotGrad,
            GradNormSquared = stats.GradNormSquared,
            ThetaHessGrad = stats.ThetaHessGrad,
        };
    }
}
