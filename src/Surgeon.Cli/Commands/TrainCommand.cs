using System.CommandLine;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"Architecture: {string.Join(", ", ModelRegistry.Names)}.", DefaultValueFactory = _ => "mlpnet" };
        var width = new Option<double>("--width") { Description = "Width multiplier of the hidden layers (MLPNet) or of every layer's channels (conv models).", DefaultValueFactory = _ => 1.0 };
        var data = CliOptions.Data("Training data: digits (embedded, default), fashion-mnist, cifar10:PATH, cifar100:PATH, or a folder of IDX files.");
        var sgd = new SgdOptionSet(20, "Training epochs.", 0.05, "Initial learning rate of SGD.", "--schedule");
        var subset = new Option<int>("--train-subset") { Description = "Train on a class-balanced subset of this many training images (the same images for every seed; 0 = all).", DefaultValueFactory = _ => 0 };
        var augment = new Option<bool>("--augment") { Description = "Augment training images: random crop with 4 pixels of zero padding and random horizontal flip." };
        var measure = new Option<string?>("--prune-measure") { Description = $"Prune while training with this importance measure: {string.Join(", ", Surgeon.Scoring.ImportanceMeasures.Names)}." };
        var target = new Option<double?>("--prune-target") { Description = "Fraction of filters (or weights) to remove in all, in [0, 1), e.g. 0.75." };
        var rounds = new Option<int>("--prune-rounds") { Description = "Pruning rounds, one after each epoch; round k removes p/(k·p + n(1−p)) of the current filters.", DefaultValueFactory = _ => 1 };
        var start = new Option<int>("--prune-start") { Description = "Prune after this epoch (0 = at initialisation; = --epochs for after training).", DefaultValueFactory = _ => 1 };
        var structure = new Option<string>("--prune-structure") { Description = "filters (remove whole filters; conv models) or weights (unstructured masks). Default: filters for conv models, weights for mlpnet." };
        var scoreSamples = new Option<int>("--score-samples") { Description = "Training samples the scores' mean gradient (and Hessian-gradient product) use.", DefaultValueFactory = _ => 1000 };
        var dynamicsSamples = new Option<int>("--dynamics-samples") { Description = "Training samples for ‖θ‖², θᵀg, ‖g‖², θᵀHg in the dynamics log (0 = loss and size only).", DefaultValueFactory = _ => 500 };
        var dynamicsEvery = new Option<int>("--dynamics-every") { Description = "Also record the dynamics every this many optimiser steps (0 = per epoch only).", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out", "-o") { Description = "Checkpoint to write (default runs/<model>-<data>.ckpt); a PATH.json sidecar is written beside it." };
        var seed = CliOptions.Seed();
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var command = new Command("train", "Train a model with SGD (momentum, weight decay, LR schedule), optionally pruning it early in training " +
            "(Lubana & Dick 2021), and save a checkpoint with its JSON sidecar plus the training dynamics (PATH.dynamics.csv, PATH.dynamics.png).")
        {
            model, width, data, subset, augment,
            measure, target, rounds, start, structure, scoreSamples, dynamicsSamples, dynamicsEvery, output, seed, device, quiet,
        };
        sgd.AddTo(command);
        command.SetAction(r => Program.Guard(() =>
        {
            string dataSpec = r.GetValue(data) ?? "digits";
            string modelName = r.GetValue(model)!;
            var options = sgd.Read(r, r.GetValue(seed)) with { Augment = r.GetValue(augment) };
            options.Validate();
            int subsetSize = CliOptions.SubsetCount(r.GetValue(subset), "--train-subset");
            ModelRegistry.Describe(modelName);
            if (!ModelRegistry.Names.Contains(modelName, StringComparer.OrdinalIgnoreCase))
                throw new SurgeonException($"unknown model '{modelName}': known models are {string.Join(", ", ModelRegistry.Names)}");
            string outPath = r.GetValue(output) ?? Workflows.DefaultRunsPath($"{modelName}-{SafeName(dataSpec)}.ckpt");
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            string? measureName = r.GetValue(measure);
            double? targetValue = r.GetValue(target);
            string structureName = r.GetValue(structure) ?? (modelName.Equals("mlpnet", StringComparison.OrdinalIgnoreCase) ? "weights" : "filters");
            if (structureName is not ("filters" or "weights"))
                throw new SurgeonException($"--prune-structure must be filters or weights, got '{structureName}'");
            var pruning = new PruneWhileTrainingOptions
            {
                Measure = measureName,
                Schedule = targetValue is { } p ? new FilterPruningSchedule(p, r.GetValue(rounds), r.GetValue(start)) : null,
                Structured = structureName == "filters",
                ScoreSamples = r.GetValue(scoreSamples),
                DynamicsSamples = r.GetValue(dynamicsSamples),
                DynamicsEverySteps = r.GetValue(dynamicsEvery),
            };
            pruning.Validate(options.Epochs, int.MaxValue); // what does not depend on the data fails before it is loaded
            if (measureName is not null && pruning.Structured && modelName.Equals("mlpnet", StringComparison.OrdinalIgnoreCase))
                throw new SurgeonException("mlpnet has no filters to remove; use --prune-structure weights (the default for mlpnet)");
            var stray = new Option[] { rounds, start, structure, scoreSamples }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
            if (measureName is null && stray is not null)
                throw new SurgeonException($"{stray.Name} only applies when pruning while training; add --prune-measure and --prune-target, or drop {stray.Name}");
            new Surgeon.IO.RunPaths().ReadsData(dataSpec).WritesCheckpoint(outPath, "--out", dynamics: true).Check();
            var (_, info) = Workflows.TrainAndSave(modelName, r.GetValue(width), dataSpec, options, outPath, dev, progress, pruning, subsetSize);
            Console.WriteLine($"test accuracy {info.TestAccuracy:P2}, loss {info.TestLoss:F4}; {info.Notes["parameters"]} parameters, {info.Notes["flops"]} FLOPs; checkpoint {outPath}");
            return 0;
        }));
        return command;
    }

    public static string SafeName(string dataSpec) =>
        new string(Path.GetFileName(dataSpec.TrimEnd('/')).Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_').ToArray());
}
