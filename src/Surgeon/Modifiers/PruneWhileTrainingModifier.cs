using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// Lubana &amp; Dick's protocol for pruning early in training (recipe name prune-while-training): after epoch t
/// (0 = at initialisation) score with the method's score and prune the fraction p_k of the current filters (or
/// weights) globally, rebuild the smaller network, and go on for n rounds (<see cref="FilterPruningSchedule"/>). With
/// a filter rule, filters of removable groups are removed (the model shrinks) and those of non-removable groups
/// (ResNet's residual stream) are masked and kept at zero after every step; with a weight rule single weights are
/// pruned with a mask. The round due after epoch k runs when epoch k + 1 starts, or at the end of the run, so the
/// dynamics log records each epoch before the round that follows it; each round is announced with the test result
/// of the just-pruned model (its immediate damage).
/// </summary>
internal sealed class PruneWhileTrainingModifier : TrainingModifier
{
    private readonly Dictionary<string, long[]> masked = [];
    private ScoringData? scoreData;

    public PruneWhileTrainingModifier(PruningMethod method, FilterPruningSchedule schedule)
    {
        if (method.Selection is not null || method.Update is not null)
            throw new SurgeonException($"{method.Name}: pruning while training takes a score and a rule (score[@rule]), not a selection or an update");
        Method = method;
        Schedule = schedule;
    }

    public override string Name => "prune-while-training";
    public PruningMethod Method { get; }
    public FilterPruningSchedule Schedule { get; }
    /// <summary>Training samples the scores' mean gradient ḡ (and Hḡ) are taken over.</summary>
    public int ScoreSamples { get; init; } = 1000;
    /// <summary>The settings of scores that need more than gradients (the Fisher of woodfisher: its samples, λ, blocks).</summary>
    public PruningOptions Options { get; init; } = new();
    public override ActiveRange Range => new(Schedule.StartEpoch, Schedule.StartEpoch + Schedule.Rounds - 1, InSteps: false);
    public override bool OwnsMask => true;

    /// <summary>The checks that do not need the model: the schedule fits <paramref name="epochs"/>, the score samples
    /// fit the training set.</summary>
    public void Validate(int epochs, int trainCount)
    {
        Schedule.Validate(epochs);
        if (ScoreSamples < 1 || ScoreSamples > trainCount)
            throw new SurgeonException($"--score-samples must be in 1..{trainCount} (the training set), got {ScoreSamples}");
    }

    public override void RunStart(TrainingLoop loop)
    {
        Validate(loop.Options.Epochs, loop.TrainData.Count);
        var model = loop.Model;
        Method.Check(new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model), TrainData = loop.TrainData, Options = Options });
        // A target that rounds to nothing (0 and −0 included) is a mistake to report before training, not a silent
        // no-op after it.
        long units = Method.PrunesFilters
            ? ((IStructuredModel)model).FilterGroups.Sum(g => (long)g.Channels)
            : PrunableParameters.TotalCount(PrunableParameters.Discover(model));
        if ((long)Math.Floor(Schedule.FractionAt(1) * units + 1e-9) == 0)
            throw new SurgeonException(
                $"--prune-target {Schedule.Target} removes no {(Method.PrunesFilters ? "filters" : "weights")} of {units} in round 1 of {Schedule.Rounds}; raise --prune-target or lower --prune-rounds");
        // Fixed, seeded samples, so successive scores compare like with like.
        scoreData = ScoringData.FromDataset(loop.TrainData, loop.TrainData.RandomSubset(ScoreSamples, loop.Options.Seed + 1), device: loop.Device);
        masked.Clear();
        loop.Mask?.Dispose();
        loop.Mask = null;
    }

    public override void EpochStart(TrainingLoop loop) => RoundIfDue(loop);

    /// <summary>The last round, if due after the last epoch; the weight mask stays in <see cref="TrainingLoop.Mask"/>
    /// (for the checkpoint's compression state).</summary>
    public override void RunEnd(TrainingLoop loop) => RoundIfDue(loop);

    /// <summary>Holds pruned weights and masked channels at exactly zero after an optimiser step.</summary>
    public override void AfterStep(TrainingLoop loop)
    {
        loop.Mask?.Apply();
        if (masked.Count == 0) return;
        foreach (var g in ((IStructuredModel)loop.Model).FilterGroups)
            if (masked.TryGetValue(g.Name, out var set) && set.Length > 0)
                FilterMasking.Zero(loop.Model, g, set);
    }

    private void RoundIfDue(TrainingLoop loop)
    {
        int round = Schedule.RoundAfter(loop.EpochsDone);
        if (round == 0) return;
        string what = Round(loop, round);
        EvalResult? pruned = loop.TestData is null ? null : Evaluator.Evaluate(loop.Model, loop.TestData, device: loop.Device);
        loop.Announce(what, pruned);
        loop.Progress.Info($"after epoch {loop.EpochsDone}: {what}" +
            (pruned is null ? "" : $"; before retraining: test loss {pruned.Loss:F4}, test acc {pruned.Accuracy:P2}"));
    }

    private string Round(TrainingLoop loop, int round)
    {
        double fraction = Schedule.FractionAt(round);
        using var scope = NewDisposeScope();
        var model = loop.Model;
        var parameters = PrunableParameters.Discover(model);
        var context = new PruningContext
        {
            Model = model,
            Parameters = parameters,
            TrainData = loop.TrainData,
            ScoreData = scoreData,
            Seed = loop.Options.Seed,
            Device = loop.Device,
            Mask = loop.Mask,
            MaskedChannels = masked.ToDictionary(e => e.Key, e => e.Value),
            Options = Options,
        };
        if (!Method.PrunesFilters)
        {
            long total = PrunableParameters.TotalCount(parameters);
            long already = loop.Mask?.PrunedCount ?? 0;
            long count = already + (long)Math.Floor(fraction * (total - already) + 1e-9);
            var result = Method.Prune(context, new PruneTarget((double)count / total, count));
            loop.Mask?.Dispose();
            loop.Mask = result.Mask;
            return $"pruned {fraction:P1} of the remaining weights with {Method.Name} (round {round}/{Schedule.Rounds}), sparsity {loop.Mask!.Sparsity:P1}";
        }

        // Masked channels of non-removable groups are already gone: they do not count as current filters.
        var groups = ((IStructuredModel)model).FilterGroups;
        long filters = groups.Sum(g => (long)g.Channels), gone = masked.Values.Sum(s => (long)s.Length);
        long current = filters - gone;
        long toRemove = (long)Math.Floor(fraction * current + 1e-9);
        using var outcome = Method.Prune(context, new PruneTarget((double)(gone + toRemove) / filters));
        masked.Clear();
        foreach (var (name, channels) in outcome.MaskedChannels) masked[name] = channels;
        loop.ReplaceModel(outcome.Model);
        model.Dispose();
        long after = ((IStructuredModel)outcome.Model).FilterGroups.Sum(g => (long)g.Channels) - masked.Values.Sum(s => (long)s.Length);
        return $"pruned {fraction:P1} of the current filters with {Method.Name} (round {round}/{Schedule.Rounds}): {current:N0} → {after:N0} filters";
    }
}
