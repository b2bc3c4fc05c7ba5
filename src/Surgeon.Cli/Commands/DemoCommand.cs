using Surgeon.Compression;
using System.CommandLine;
using System.Diagnostics;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class DemoCommand
{
    public static Command Create()
    {
        var epochs = new Option<int>("--epochs") { Description = "Training epochs for MLPNet.", DefaultValueFactory = _ => 20 };
        var methods = new Option<string>("--methods", "-m") { Description = "Methods to sweep (WoodFisher and CBS use an empirical Fisher of N = 1,000 per-sample gradients, λ = 1e-3).", DefaultValueFactory = _ => "mp,lmp,wf,cbs" };
        var outDir = new Option<string>("--out-dir", "-o") { Description = "Folder for the checkpoint and the sweep reports.", DefaultValueFactory = _ => Workflows.DefaultRunsPath("demo") };
        var seed = CliOptions.Seed();
        var quiet = CliOptions.Quiet();
        var command = new Command("demo", "Train MLPNet on the embedded MNIST digits (8,000 train / 2,000 test), then sweep one-shot pruning (magnitude, WoodFisher, CBS) over sparsities 0.5–0.98 and print the table.")
        {
            epochs, methods, outDir, seed, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            var clock = Stopwatch.StartNew();
            var methodList = PruningMethods.Parse(r.GetValue(methods)!);
            string folder = r.GetValue(outDir)!;
            var progress = new ConsoleProgress(r.GetValue(quiet));
            var options = new TrainOptions { Epochs = r.GetValue(epochs), Seed = r.GetValue(seed) };
            options.Validate();
            string ckpt = Path.Combine(folder, "mlpnet-digits.ckpt");
            new Surgeon.IO.RunPaths().WritesFolder(folder, "--out-dir", [Surgeon.IO.FolderLock.FileName]).WritesCheckpoint(ckpt, "the demo's checkpoint", dynamics: true)
                .WritesFolder(Path.Combine(folder, "sweep"), "--out-dir", Workflows.SweepFiles).Check();
            using var folderLock = Surgeon.IO.FolderLock.Acquire(folder, "--out-dir");
            var (model, info) = Workflows.TrainAndSave("mlpnet", 1.0, "digits", options, ckpt, TorchSharp.torch.CPU, progress);
            Console.WriteLine($"dense MLPNet: test accuracy {info.TestAccuracy:P2} on the 2,000 held-out digits; checkpoint {ckpt}");
            var sparsities = CliOptions.ParseDoubles(SweepCommand.DefaultSparsities, "--sparsities");
            var report = Workflows.SweepAndReport(model, info, ckpt, "digits", methodList, sparsities, [r.GetValue(seed)],
                new PruningOptions(), Path.Combine(folder, "sweep"), TorchSharp.torch.CPU, progress);
            Workflows.PrintSweepTable(report, "MLPNet on the embedded digits: one-shot pruning, no fine-tuning");
            Console.WriteLine($"demo finished in {clock.Elapsed.TotalSeconds:F0}s; reports in {Path.Combine(folder, "sweep")}");
            return 0;
        }));
        return command;
    }
}
