using System.CommandLine;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>The SGD options of the commands that train (train, finetune); each command picks its own defaults.</summary>
internal sealed class SgdOptionSet(int defaultEpochs, string epochsDescription, double defaultLr, string lrDescription,
    string scheduleName)
{
    private readonly Option<int> epochs = new("--epochs") { Description = epochsDescription, DefaultValueFactory = _ => defaultEpochs };
    private readonly Option<int> batch = new("--batch-size") { Description = "Mini-batch size.", DefaultValueFactory = _ => 64 };
    private readonly Option<double> lr = new("--lr") { Description = lrDescription, DefaultValueFactory = _ => defaultLr };
    private readonly Option<double> momentum = new("--momentum") { Description = "SGD momentum.", DefaultValueFactory = _ => 0.9 };
    private readonly Option<double> wd = new("--weight-decay") { Description = "L2 weight decay.", DefaultValueFactory = _ => 1e-4 };
    private readonly Option<LrSchedule> schedule = new(scheduleName) { Description = "Learning-rate schedule: Constant, Cosine (to zero) or Step.", DefaultValueFactory = _ => LrSchedule.Cosine };
    private readonly Option<int> stepEpochs = new("--step-epochs") { Description = "Step schedule: epochs between decays.", DefaultValueFactory = _ => 10 };

    public IReadOnlyList<Option> Options => [epochs, batch, lr, momentum, wd, schedule, stepEpochs];

    public void AddTo(Command command)
    {
        foreach (var o in Options)
            command.Options.Add(o);
    }

    /// <summary>The options as given (not yet validated: the caller adds what is its own, then validates).</summary>
    public TrainOptions Read(ParseResult r, int seed) => new()
    {
        Epochs = r.GetValue(epochs),
        BatchSize = r.GetValue(batch),
        LearningRate = r.GetValue(lr),
        Momentum = r.GetValue(momentum),
        WeightDecay = r.GetValue(wd),
        Schedule = r.GetValue(schedule),
        StepEpochs = r.GetValue(stepEpochs),
        Seed = seed,
    };
}
