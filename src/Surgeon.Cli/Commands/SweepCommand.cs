using Surgeon.Compression;
using System.CommandLine;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class SweepCommand
{
    public const string DefaultSparsities = "0.5,0.6,0.7,0.8,0.9,0.95,0.98";

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "Trained (dense) checkpoint to prune.", Required = true };
        var methods = new Option<string>("--methods", "-m")
        {
            Description = "Comma-separated methods, each score[@rule][+update] or selection[+update] (surgeon methods lists them), e.g. " + string.Join(", ", PruningMethods.Examples) + ".",
            DefaultValueFactory = _ => "mp,lmp",
        };
        var sparsities = new Option<string>("--sparsities", "-s") { Description = "Comma-separated sparsities in [0, 1).", DefaultValueFactory = _ => DefaultSparsities };
        var seeds = new Option<string>("--seeds") { Description = "Comma-separated seeds (of the Fisher sample and randomised steps); results are mean ± std over them.", DefaultValueFactory = _ => "0" };
        var outDir = new Option<string?>("--out-dir", "-o") { Description = "Folder for sweep.md, sweep.csv, summary.csv, sweep.json and sweep.png (default runs/sweep-<checkpoint>)." };
        var data = CliOptions.Data("Data for evaluation and gradients (default: the checkpoint's dataset).");
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var recalibrate = CliOptions.RecalibrateBn();
        var testSubset = new Option<int>("--test-subset")
        {
            Description = "Evaluate every point on a class-balanced subset of this many test images, the same for every point (0 = the whole test split). For quick sweeps of conv nets on a CPU.",
            DefaultValueFactory = _ => 0,
        };
        var prunable = CliOptions.Prunable();
        var fisher = new PruningOptionSet();
        var command = new Command("sweep", "One-shot pruning over a grid of methods × sparsities × seeds, each from the same dense weights; prints and writes the accuracy table.")
        {
            checkpoint, methods, sparsities, seeds, outDir, data, prunable, recalibrate, testSubset, device, quiet,
        };
        fisher.AddTo(command);
        command.SetAction(r => Program.Guard(() =>
        {
            string path = r.GetValue(checkpoint)!;
            var methodList = PruningMethods.Parse(r.GetValue(methods)!);
            var sparsityList = CliOptions.ParseDoubles(r.GetValue(sparsities)!, "--sparsities");
            foreach (var s in sparsityList) SparsityTarget.Validate(s);
            var seedList = CliOptions.ParseInts(r.GetValue(seeds)!, "--seeds");
            var options = fisher.Read(r);
            var prunableSet = PrunableParameters.ParseSet(r.GetValue(prunable)!);
            int recalibrateSamples = r.GetValue(recalibrate);
            int testImages = CliOptions.SubsetCount(r.GetValue(testSubset), "--test-subset");
            if (recalibrateSamples < 0) throw new SurgeonException($"--recalibrate-bn must be 0 (off) or a number of samples, got {recalibrateSamples}");
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            string folder = r.GetValue(outDir) ?? Workflows.DefaultRunsPath($"sweep-{Path.GetFileNameWithoutExtension(path)}");
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).ReadsData(CliOptions.DataOf(r.GetValue(data), path))
                .WritesFolder(folder, "--out-dir", Workflows.SweepFiles).Check();
            var (model, info) = Checkpoint.Load(path, dev);
            var report = Workflows.SweepAndReport(model, info, path, r.GetValue(data) ?? info.Dataset, methodList, sparsityList,
                seedList, options, folder, dev, progress, recalibrateSamples, prunableSet, testImages);
            Workflows.PrintSweepTable(report, $"{info.Architecture} on {info.Dataset}: one-shot pruning, no fine-tuning");
            return 0;
        }));
        return command;
    }
}
