using Surgeon.Modifiers;
using System.CommandLine;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>
/// The options of gradual pruning with fine-tuning, shared by finetune and prune --schedule gradual: the SGD options
/// and the polynomial schedule's s_i, T and f.
/// </summary>
internal sealed class GradualOptionSet
{
    private readonly SgdOptionSet sgd = new(5, "Training epochs in all (pruning steps and fine-tuning).",
        0.01, "Initial learning rate of SGD (fine-tuning usually starts lower than training).", "--lr-schedule");
    private readonly Option<double> initial = new("--initial-sparsity") { Description = "Sparsity s_i of the first pruning step (at step 0).", DefaultValueFactory = _ => 0.0 };
    private readonly Option<long?> steps = new("--prune-steps") { Description = "T: the schedule s_t = s_f + (s_i − s_f)(1 − t/T)³ reaches s_f at optimiser step T (default: half of all steps)." };
    private readonly Option<long?> every = new("--prune-every") { Description = "f: prune every f optimiser steps (default: T/10, at least 1)." };
    private readonly Option<int> subset = new("--train-subset") { Description = "Train on the class-balanced subset of this many training images that train --train-subset uses (0 = all).", DefaultValueFactory = _ => 0 };

    public void AddTo(Command command)
    {
        sgd.AddTo(command);
        foreach (Option o in new Option[] { initial, steps, every, subset })
            command.Options.Add(o);
    }

    /// <summary>The SGD options, validated.</summary>
    public TrainOptions Training(ParseResult r, int seed)
    {
        var options = sgd.Read(r, seed);
        options.Validate();
        return options;
    }

    /// <summary>The --train-subset count (0 = every training image).</summary>
    public int TrainSubset(ParseResult r) => CliOptions.SubsetCount(r.GetValue(subset), "--train-subset");

    /// <summary>The schedule to <paramref name="finalSparsity"/> over a run of <paramref name="totalSteps"/> optimiser steps, validated.</summary>
    public PolynomialSparsitySchedule Schedule(ParseResult r, double finalSparsity, long totalSteps)
    {
        long t = r.GetValue(steps) ?? Math.Max(1, totalSteps / 2);
        var schedule = new PolynomialSparsitySchedule(r.GetValue(initial), finalSparsity, t, r.GetValue(every) ?? Math.Max(1, t / 10));
        schedule.Validate();
        return schedule;
    }

    /// <summary>The schedule options (s_i, T, f) that the command line gives explicitly.</summary>
    public IEnumerable<string> GivenScheduleOptions(ParseResult r) =>
        new Option[] { initial, steps, every }.Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name);

    /// <summary>The names of these options that the command line gives explicitly.</summary>
    public IEnumerable<string> Given(ParseResult r) =>
        sgd.Options.Concat([initial, steps, every, subset]).Where(o => r.GetResult(o) is { Implicit: false }).Select(o => o.Name);
}
