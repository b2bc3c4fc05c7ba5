using System.CommandLine;
using Surgeon.Models;
using Surgeon.Modifiers;
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
        var measure = new Option<string?>("--prune-measure") { Description = $"Prune while training with this score (or score@rule; the rule defaults to --prune-structure): {string.Join(", ", PruningMethods.Scores.Select(m => m.Name))}." };
        var target = new Option<double?>("--prune-target") { Description = "Fraction of filters (or weights) to remove in all, in [0, 1), e.g. 0.75." };
        var rounds = new Option<int>("--prune-rounds") { Description = "Pruning rounds, one after each epoch; round k removes p/(k·p + n(1−p)) of the current filters.", DefaultValueFactory = _ => 1 };
        var start = new Option<int>("--prune-start") { Description = "Prune after this epoch (0 = at initialisation; = --epochs for after training).", DefaultValueFactory = _ => 1 };
        var structure = new Option<string>("--prune-structure") { Description = "filters (remove whole filters; conv models) or weights (unstructured masks). Default: filters for conv models, weights for mlpnet." };
        var scoreSamples = new Option<int>("--score-samples") { Description = "Training samples the scores' mean gradient (and Hessian-gradient product) use.", DefaultValueFactory = _ => 1000 };
        var dynamicsSamples = new Option<int>("--dynamics-samples") { Description = "Training samples for ‖θ‖², θᵀg, ‖g‖², θᵀHg in the dynamics log (0 = loss and size only).", DefaultValueFactory = _ => 500 };
        var dynamicsEvery = new Option<int>("--dynamics-every") { Description = "Also record the dynamics every this many optimiser steps (0 = per epoch only).", DefaultValueFactory = _ => 0 };
        var recipe = new Option<string?>("--recipe") { Description = "A YAML recipe of training modifiers (gradual-pruning, prune-while-training, fixed-mask, autoprune; docs/recipes/). The --prune-* flags build the same recipe; the recipe is stored in the checkpoint's sidecar." };
        var output = new Option<string?>("--out", "-o") { Description = "Checkpoint to write (default runs/<model>-<data>.ckpt); a PATH.json sidecar is written beside it." };
        var seed = CliOptions.Seed();
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var command = new Command("train", "Train a model with SGD (momentum, weight decay, LR schedule), optionally pruning it early in training " +
            "(Lubana & Dick 2021), and save a checkpoint with its JSON sidecar plus the training dynamics (PATH.dynamics.csv, PATH.dynamics.png).")
        {
            model, width, data, subset, augment,
            measure, target, rounds, start, structure, scoreSamples, dynamicsSamples, dynamicsEvery, recipe, output, seed, device, quiet,
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
            string? recipePath = r.GetValue(recipe);
            bool mlp = modelName.Equals("mlpnet", StringComparison.OrdinalIgnoreCase);
            string structureName = r.GetValue(structure) ?? (mlp ? "weights" : "filters");
            if (structureName is not ("filters" or "weights"))
                throw new SurgeonException($"--prune-structure must be filters or weights, got '{structureName}'");
            if ((measureName is null) != (targetValue is null))
                throw new SurgeonException("pruning while training needs both a measure (--prune-measure) and a target (--prune-target)");
            var stray = new Option[] { rounds, start, structure, scoreSamples }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
            if (measureName is null && stray is not null)
                throw new SurgeonException($"{stray.Name} only applies when pruning while training; add --prune-measure and --prune-target, or drop {stray.Name}");
            if (recipePath is not null && measureName is not null)
                throw new SurgeonException("--recipe and --prune-measure both say how to prune; put the pruning in the recipe, or drop --recipe");
            var dynamics = new DynamicsModifier(new DynamicsLog()) { Samples = r.GetValue(dynamicsSamples), EverySteps = r.GetValue(dynamicsEvery) };
            dynamics.Validate();
            Recipe? plan = recipePath is not null ? Recipe.Load(recipePath) : null;
            var notes = new Dictionary<string, string>();
            if (measureName is not null)
            {
                var method = PruningMethods.Get(measureName, structureName == "filters" ? "filter" : "global");
                if (method.PrunesFilters && mlp)
                    throw new SurgeonException("mlpnet has no filters to remove; use --prune-structure weights (the default for mlpnet)");
                if (r.GetResult(structure) is { Implicit: false } && method.PrunesFilters != (structureName == "filters"))
                    throw new SurgeonException($"--prune-measure {measureName} prunes {(method.PrunesFilters ? "filters" : "weights")} but --prune-structure says {structureName}; drop one");
                plan = Recipe.Of(Recipe.FlagsSource, ("prune-while-training",
                [
                    ("method", measureName.Trim()),
                    ("structure", structureName),
                    ("target", targetValue!.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
                    ("rounds", r.GetValue(rounds).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    ("start-epoch", r.GetValue(start).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    ("score-samples", r.GetValue(scoreSamples).ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ]));
                notes["pruneMeasure"] = measureName;
                notes["pruneTarget"] = targetValue.Value.ToString("R");
                notes["pruneRounds"] = r.GetValue(rounds).ToString();
                notes["pruneStart"] = r.GetValue(start).ToString();
                notes["pruneStructure"] = method.PrunesFilters ? "filters" : "weights";
            }
            plan?.CheckBeforeData(options.Epochs); // what does not depend on the data fails before it is loaded
            var paths = new Surgeon.IO.RunPaths().ReadsData(dataSpec).WritesCheckpoint(outPath, "--out", dynamics: true);
            if (recipePath is not null) paths.Reads(recipePath, $"the --recipe file {recipePath}");
            paths.Check();
            var (_, info) = Workflows.TrainAndSave(modelName, r.GetValue(width), dataSpec, options, outPath, dev, progress, plan, dynamics, subsetSize, notes);
            Console.WriteLine($"test accuracy {info.TestAccuracy:P2}, loss {info.TestLoss:F4}; {info.Notes["parameters"]} parameters, {info.Notes["flops"]} FLOPs; checkpoint {outPath}");
            return 0;
        }));
        return command;
    }

    public static string SafeName(string dataSpec) =>
        new string(Path.GetFileName(dataSpec.TrimEnd('/')).Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_').ToArray());
}
