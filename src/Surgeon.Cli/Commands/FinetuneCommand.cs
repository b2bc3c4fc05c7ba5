using System.CommandLine;
using Surgeon.Pruning;

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
        var gradual = new GradualOptionSet();
        var method = new Option<string?>("--method", "-m") { Description = $"Prune gradually with this method (score[@rule][+update] or selection[+update], e.g. {string.Join(", ", PruningMethods.Examples.Take(8))}; see surgeon methods); omit to fine-tune only." };
        var sparsity = new Option<double?>("--sparsity", "-s") { Description = "Final sparsity s_f of gradual pruning, in [0, 1)." };
        var recipe = new Option<string?>("--recipe") { Description = "A YAML recipe of training modifiers to run instead of --method/--sparsity (docs/recipes/); stored in the sidecar." };
        var output = new Option<string?>("--out", "-o") { Description = "Checkpoint to write (default: beside the input, suffixed -ft)." };
        var data = CliOptions.Data("Training and test data (default: the checkpoint's dataset).");
        var seed = CliOptions.Seed();
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var prunable = CliOptions.Prunable();
        var fisher = new PruningOptionSet();
        var command = new Command("finetune", "Fine-tune a checkpoint with SGD, holding its pruned weights at exactly zero; with --method and --sparsity, " +
            "first prune it gradually on the polynomial schedule s_t = s_f + (s_i − s_f)(1 − t/T)³ every f steps (Zhu & Gupta), then fine-tune on.")
        {
            checkpoint, method, sparsity, recipe, output, data, seed, prunable, device, quiet,
        };
        gradual.AddTo(command);
        fisher.AddTo(command);
        command.SetAction(r => Program.Guard(() =>
        {
            string path = r.GetValue(checkpoint)!;
            var training = gradual.Training(r, r.GetValue(seed));
            string? methodName = r.GetValue(method);
            var run = new GradualRun
            {
                CheckpointPath = path,
                Method = methodName is null ? null : PruningMethods.Get(methodName),
                FinalSparsity = r.GetValue(sparsity),
                DataSpec = r.GetValue(data),
                OutPath = r.GetValue(output),
                DefaultOutName = $"{Path.GetFileNameWithoutExtension(path)}-ft.ckpt",
                Prunable = r.GetResult(prunable) is { Implicit: false } ? r.GetValue(prunable) : null,
                Training = training,
                Fisher = fisher.Read(r),
                DeviceName = r.GetValue(device)!,
                Quiet = r.GetValue(quiet),
                RecipePath = r.GetValue(recipe),
            };
            return run.Execute(r, gradual);
        }));
        return command;
    }
}
