using System.CommandLine;
using System.Globalization;
using Surgeon.Data;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>
/// The body of finetune and of prune --schedule gradual: load a checkpoint, fine-tune it holding its zeros (or prune it
/// gradually on the polynomial schedule while training, then fine-tune on), save the result with its sidecar, report.
/// </summary>
internal sealed class GradualRun
{
    public required string CheckpointPath { get; init; }
    /// <summary>The method and final sparsity of gradual pruning; both null to fine-tune only.</summary>
    public PruningMethod? Method { get; init; }
    public double? FinalSparsity { get; init; }
    public string? DataSpec { get; init; }
    /// <summary>The output path, or null for <see cref="DefaultOutName"/> beside the input.</summary>
    public string? OutPath { get; init; }
    public required string DefaultOutName { get; init; }
    /// <summary>The --prunable value when given explicitly, else null (then the checkpoint's own set, or the paper's).</summary>
    public string? Prunable { get; init; }
    public required TrainOptions Training { get; init; }
    public required PruningOptions Fisher { get; init; }
    public required string DeviceName { get; init; }
    public bool Quiet { get; init; }

    public int Execute(ParseResult r, GradualOptionSet gradual)
    {
        if ((Method is null) != (FinalSparsity is null))
            throw new SurgeonException("gradual pruning needs both --method and --sparsity; give neither to fine-tune only");
        if (FinalSparsity is { } sf) SparsityTarget.Validate(sf);
        if (Prunable is not null) PrunableParameters.ParseSet(Prunable); // a bad --prunable fails before the checkpoint loads
        int subsetCount = gradual.TrainSubset(r);
        var dev = CliOptions.ParseDevice(DeviceName);
        var progress = new ConsoleProgress(Quiet);
        string outPath = OutPath ?? Path.Combine(Path.GetDirectoryName(CheckpointPath) ?? ".", DefaultOutName);
        new Surgeon.IO.RunPaths().ReadsCheckpoint(CheckpointPath).ReadsData(CliOptions.DataOf(DataSpec, CheckpointPath))
            .WritesCheckpoint(outPath, "--out").Check();
        var (model, info) = Checkpoint.Load(CheckpointPath, dev);
        // A pruned checkpoint's zeros are held in the set it was pruned in, unless --prunable says otherwise.
        var prunableSet = PrunableParameters.ParseSet(Prunable ?? info.Notes.GetValueOrDefault("prunable") ?? "paper");
        // A final sparsity that prunes no weight (0, −0, a subnormal, one that rounds to zero) fails before training.
        if (FinalSparsity is { } final)
            SparsityTarget.PruneCount(final, PrunableParameters.TotalCount(PrunableParameters.Discover(model, prunableSet)));
        string dataSpec = DataSpec ?? info.Dataset;
        var (train, test) = DatasetCatalog.Load(dataSpec);
        train = Workflows.BalancedSubset(train, subsetCount, "--train-subset");
        Workflows.EnsureDataFits(info, test);
        long totalSteps = (long)Training.Epochs * ((train.Count + Training.BatchSize - 1) / Training.BatchSize);
        var schedule = FinalSparsity is { } target ? gradual.Schedule(r, target, totalSteps) : null;
        var before = Evaluator.Evaluate(model, test, device: dev);
        var driver = new GradualPruning(Training, dev, progress)
        {
            Method = Method,
            Schedule = schedule,
            Options = Fisher,
            Prunable = prunableSet,
            AfterEpoch = (s, sp) => progress.Info($"epoch {s.Epoch,3}: sparsity {sp:P2}  train loss {s.TrainLoss:F4}  test acc {s.TestAccuracy:P2}  ({s.Seconds:F1}s)"),
        };
        using var mask = driver.Run(model, train, test);
        var after = Evaluator.Evaluate(model, test, device: dev);
        var inv = CultureInfo.InvariantCulture;
        Checkpoint.Save(outPath, model, info with
        {
            TestAccuracy = after.Accuracy,
            TestLoss = after.Loss,
            Sparsity = mask.Sparsity,
            PruningMethod = Method is null ? info.PruningMethod : $"gradual {Method.Name}",
            Dataset = dataSpec,
            Notes = new(info.Notes)
            {
                ["finetunedFrom"] = Path.GetFullPath(CheckpointPath),
                ["finetuneEpochs"] = Training.Epochs.ToString(inv),
                ["finetuneLr"] = Training.LearningRate.ToString("R", inv),
                ["finetuneSeed"] = Training.Seed.ToString(inv),
                ["finetuneTrainImages"] = train.Count.ToString(inv),
                ["prunable"] = prunableSet.ToString().ToLowerInvariant(),
                ["gradualSchedule"] = schedule is null ? "none" : $"s_i {schedule.Initial.ToString("R", inv)}, s_f {schedule.Final.ToString("R", inv)}, T {schedule.Steps}, f {schedule.Every}",
            },
        });
        Workflows.PrintLayerTable(mask);
        Console.WriteLine($"{(Method is null ? "fine-tuned" : $"gradual {Method.Name} to {mask.Sparsity:P2}, fine-tuned")}: " +
            $"accuracy {before.Accuracy:P2} → {after.Accuracy:P2}, loss {before.Loss:F4} → {after.Loss:F4}; wrote {outPath}");
        return 0;
    }
}
