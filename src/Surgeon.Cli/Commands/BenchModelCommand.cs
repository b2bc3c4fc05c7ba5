using System.CommandLine;
using Surgeon.Benchmarking;
using Surgeon.IO;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>Times a dense and a pruned checkpoint side by side, in TorchSharp and ONNX Runtime.</summary>
internal static class BenchModelCommand
{
    public const string MarkdownFile = "bench-model.md", CsvFile = "bench-model.csv";

    public static Command Create()
    {
        var dense = new Option<string>("--dense") { Description = "The dense (unpruned) checkpoint.", Required = true };
        var pruned = new Option<string>("--pruned")
        {
            Description = "The pruned checkpoint: unstructured zeros (surgeon prune) or a filter-pruned, smaller model (surgeon train --prune-structure filters).",
            Required = true,
        };
        var batchSizes = new Option<string>("--batch-sizes", "-b") { Description = "Comma-separated batch sizes to time.", DefaultValueFactory = _ => "1,64" };
        var runs = new Option<int>("--runs") { Description = "Timed forward passes per model, runtime and batch size; the median is reported.", DefaultValueFactory = _ => 30 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed forward passes before the timed ones.", DefaultValueFactory = _ => 5 };
        var runtimes = new Option<string>("--runtimes")
        {
            Description = "Comma-separated runtimes: " + string.Join("; ", InferenceRuntimes.Known.Select(r => $"{r.Name} = {r.Description}")) + ".",
            DefaultValueFactory = _ => string.Join(',', InferenceRuntimes.Default.Select(r => r.Name)),
        };
        var threads = new Option<int>("--threads")
        {
            Description = $"Intra-op threads of every runtime, the same for both models (default: all {Environment.ProcessorCount} cores). " +
                "On a machine shared with other jobs, 1 gives the steadiest figures.",
            DefaultValueFactory = _ => Environment.ProcessorCount,
        };
        var seed = CliOptions.Seed("Seed of the random input batch (the same batch for both models).");
        var outDir = new Option<string?>("--out-dir", "-o") { Description = $"Also write the table to {MarkdownFile} and {CsvFile} (one row per model, runtime and batch size) in this folder." };
        var quiet = CliOptions.Quiet();
        var command = new Command("bench-model",
            "Measure the speedup of a pruned model: parameters, nonzeros, FLOPs, nonzero FLOPs and ShrinkBench's theoretical speedup beside " +
            "the measured inference latency of the dense and the pruned model in TorchSharp and ONNX Runtime.")
        {
            dense, pruned, batchSizes, runs, warmup, runtimes, threads, seed, outDir, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            var progress = new ConsoleProgress(r.GetValue(quiet));
            var bench = new SpeedupBenchmark
            {
                Runtimes = InferenceRuntimes.Parse(r.GetValue(runtimes)!),
                BatchSizes = CliOptions.ParseInts(r.GetValue(batchSizes)!, "--batch-sizes"),
                Runs = r.GetValue(runs),
                Warmup = r.GetValue(warmup),
                Threads = r.GetValue(threads),
                Seed = r.GetValue(seed),
                Progress = progress,
            };
            bench.Validate();
            string? folder = r.GetValue(outDir);
            string densePath = r.GetValue(dense)!, prunedPath = r.GetValue(pruned)!;
            var paths = new RunPaths().ReadsCheckpoint(densePath, "the --dense checkpoint").ReadsCheckpoint(prunedPath, "the --pruned checkpoint");
            if (folder is not null) paths.WritesFolder(folder, "--out-dir", [MarkdownFile, CsvFile, FolderLock.FileName]);
            paths.Check();
            // The sidecars first: two models that cannot be compared are refused before either is loaded.
            SpeedupBenchmark.CheckComparable(Checkpoint.ReadInfo(densePath).Spec, densePath, Checkpoint.ReadInfo(prunedPath).Spec, prunedPath);
            var (denseModel, denseInfo) = Checkpoint.Load(densePath);
            var (prunedModel, prunedInfo) = Checkpoint.Load(prunedPath);
            using (denseModel)
            using (prunedModel)
            {
                progress.Info($"threads: {bench.Threads} intra-op thread(s) in each runtime, {Environment.ProcessorCount} core(s) on this machine");
                var result = bench.Run(BenchModel.Of("dense", densePath, denseModel, denseInfo.Spec),
                    BenchModel.Of("pruned", prunedPath, prunedModel, prunedInfo.Spec));
                string report = SpeedupTable.ToReport(result);
                if (folder is not null)
                {
                    using var folderLock = FolderLock.Acquire(folder, "--out-dir");
                    using var files = new AtomicFileSet();
                    files.WriteText(Path.Combine(folder, MarkdownFile), report);
                    files.WriteText(Path.Combine(folder, CsvFile), SpeedupTable.ToCsv(result));
                    files.Commit();
                    progress.Info($"wrote {Path.Combine(folder, MarkdownFile)} and {CsvFile}");
                }
                Console.Write(report);
            }
            return 0;
        }));
        return command;
    }
}
