using System.CommandLine;
using System.Globalization;
using Surgeon.Data;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>
/// surgeon finetune: fine-tune a (pruned) checkpoint holding its zeros, or prune it gradually while training
/// (polynomial schedule, any method) and fine-tune on.
/// </summary>
internal static class FinetuneCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "Checkpoint to fine-tune (pruned: its zeros are held) or to prune gradually.", Required = true };
        var sgd = new SgdOptionSet(5, "Training epochs in all (pruning steps and fine-tuning).",
            0.01, "Initial learning rate of SGD (fine-tuning usually starts lower than training).", "--lr-schedule");
        var method = new Option<string?>("--method", "-m") { Description = $"Prune gradually with this method ({string.Join(", ", PruningMethods.Known.Select(m => m.Name))}); omit to fine-tune only." };
        var sparsity = new Option<double?>("--sparsity", "-s") { Description = "Final sparsity s_f of gradual pruning, in [0, 1)." };
        var initial = new Option<double>("--initial-sparsity") { Description = "Sparsity s_i of the first pruning step (at step 0).", DefaultValueFactory = _ => 0.0 };
        var steps = new Option<long?>("--prune-steps") { Description = "T: the schedule s_t = s_f + (s_i − s_f)(1 − t/T)³ reaches s_f at optimiser step T (default: half of all steps)." };
        var every = new Option<long?>("--prune-every") { Description = "f: prune every f optimiser steps (default: T/10, at least 1)." };
        var output = new Option<string?>("--out", "-o") { Description = "Checkpoint to write (default: beside the input, suffixed -ft)." };
        var data = CliOptions.Data("Training and test data (default: the checkpoint's dataset).");
        var seed = CliOptions.Seed();
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var fisher = new PruningOptionSet();
        var command = new Command("finetune", "Fine-tune a checkpoint with SGD, holding its pruned weights at exactly zero; with --method and --sparsity, " +
            "first prune it gradually on the polynomial schedule s_t = s_f + (s_i − s_f)(1 − t/T)³ every f steps (Zhu & Gupta), then fine-tune on.")
        {
            checkpoint, method, sparsity, initial, steps, every, output, data, seed, device, quiet,
        };
        sgd.AddTo(command);
        fisher.AddTo(command);
        command.SetAction(r => Program.Guard(() =>
        {
            string path = r.GetValue(checkpoint)!;
            var options = sgd.Read(r, r.GetValue(seed));
            options.Validate();
            string? methodName = r.GetValue(method);
            double? finalSparsity = r.GetValue(sparsity);
            if ((methodName is null) != (finalSparsity is null))
                throw new SurgeonException("gradual pruning needs both --method and --sparsity; give neither to fine-tune only");
            var pruningMethod = methodName is null ? null : PruningMethods.Get(methodName);
            if (finalSparsity is { } sf) SparsityTarget.Validate(sf);
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            var (model, info) = Checkpoint.Load(path, dev);
            string dataSpec = r.GetValue(data) ?? info.Dataset;
            var (train, test) = DatasetCatalog.Load(dataSpec);
            Workflows.EnsureDataFits(info, test);
            long totalSteps = (long)options.Epochs * ((train.Count + options.BatchSize - 1) / options.BatchSize);
            PolynomialSparsitySchedule? schedule = null;
            if (finalSparsity is { } target)
            {
                long t = r.GetValue(steps) ?? Math.Max(1, totalSteps / 2);
                schedule = new PolynomialSparsitySchedule(r.GetValue(initial), target, t, r.GetValue(every) ?? Math.Max(1, t / 10));
                schedule.Validate();
            }
            string outPath = r.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(path) ?? ".", $"{Path.GetFileNameWithoutExtension(path)}-ft.ckpt");
            Surgeon.IO.AtomicFile.EnsureWritable(outPath);
            var before = Evaluator.Evaluate(model, test, device: dev);
            var driver = new GradualPruning(options, dev, progress)
            {
                Method = pruningMethod,
                Schedule = schedule,
                Options = fisher.Read(r),
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
                PruningMethod = pruningMethod is null ? info.PruningMethod : $"gradual {pruningMethod.Name}",
                Dataset = dataSpec,
                Notes = new(info.Notes)
                {
                    ["finetunedFrom"] = Path.GetFullPath(path),
                    ["finetuneEpochs"] = options.Epochs.ToString(inv),
                    ["finetuneLr"] = options.LearningRate.ToString("R", inv),
                    ["finetuneSeed"] = options.Seed.ToString(inv),
                    ["gradualSchedule"] = schedule is null ? "none" : $"s_i {schedule.Initial.ToString("R", inv)}, s_f {schedule.Final.ToString("R", inv)}, T {schedule.Steps}, f {schedule.Every}",
                },
            });
            Workflows.PrintLayerTable(mask);
            Console.WriteLine($"{(pruningMethod is null ? "fine-tuned" : $"gradual {pruningMethod.Name} to {mask.Sparsity:P2}, fine-tuned")}: " +
                $"accuracy {before.Accuracy:P2} → {after.Accuracy:P2}, loss {before.Loss:F4} → {after.Loss:F4}; wrote {outPath}");
            return 0;
        }));
        return command;
    }
}
