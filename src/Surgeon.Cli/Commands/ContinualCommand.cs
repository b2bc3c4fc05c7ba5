using System.CommandLine;
using Surgeon.Continual;
using Surgeon.Data;
using Surgeon.IO;
using Surgeon.Reports;

namespace Surgeon.Cli.Commands;

/// <summary>surgeon continual: learn a task sequence with one continual method and measure the accuracy matrix.</summary>
internal static class ContinualCommand
{
    public static readonly string[] Files = ["accuracy.csv", "summary.csv", "result.json", "accuracy.png", "average.png"];

    public static Command Create()
    {
        var method = new Option<string>("--method", "-m")
        {
            Description = "rank-update (Hyder et al. 2022: rank-r₁ factors, then a rank-r₂ update, selector, biases and head per task, earlier ones frozen), " +
                "packnet (Mallya & Lazebnik 2018: train, prune, retrain, freeze), finetune (one shared body, no protection) or independent (one model per task).",
            Required = true,
            HelpName = "rank-update|packnet|finetune|independent",
        };
        var tasks = new Option<string>("--tasks", "-t")
        {
            Description = "The task sequence: permuted-digits, split-digits (5 tasks of 2 classes), permuted-fashion or split-fashion.",
            Required = true,
            HelpName = string.Join('|', TaskSequences.Kinds),
        };
        var count = new Option<int?>("--task-count") { Description = "Number of tasks (default 10 permutations, or the 5 class pairs)." };
        var hidden = new Option<string>("--hidden") { Description = "Hidden widths of the MLP.", DefaultValueFactory = _ => "256,256" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per task.", DefaultValueFactory = _ => 3 };
        var epochsFirst = new Option<int?>("--epochs-first") { Description = "Epochs of the first task (default --epochs)." };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => 1e-3 };
        var lrFirst = new Option<double?>("--lr-first") { Description = "Adam learning rate of the first task (default --lr)." };
        var batch = new Option<int>("--batch-size") { Description = "Mini-batch size.", DefaultValueFactory = _ => 128 };
        var rankFirst = new Option<int>("--rank-first") { Description = "rank-update: r₁, the rank of the first task's factors per layer.", DefaultValueFactory = _ => 11 };
        var rankNext = new Option<int>("--rank-next") { Description = "rank-update: r₂, the rank each later task adds per layer.", DefaultValueFactory = _ => 1 };
        var pruneMethod = new Option<string>("--prune-method") { Description = "packnet: the Surgeon score that ranks a task's weights (mp, snip, wf-s, ...).", DefaultValueFactory = _ => "mp" };
        var pruneFraction = new Option<double>("--prune-fraction") { Description = "packnet: the fraction of each task's weights freed per layer.", DefaultValueFactory = _ => 0.5 };
        var retrain = new Option<int>("--retrain-epochs") { Description = "packnet: epochs retraining a task's surviving weights.", DefaultValueFactory = _ => 1 };
        var trainSubset = new Option<int>("--train-subset") { Description = "Training images per task (class-balanced, seeded); 0 = all.", DefaultValueFactory = _ => 0 };
        var testSubset = new Option<int>("--test-subset") { Description = "Test images per task (class-balanced, seeded); 0 = all.", DefaultValueFactory = _ => 0 };
        var loss = new Option<string>("--loss") { Description = "Training loss: cross-entropy, or mse-softmax (the mean squared error of the softmax output against the one-hot label, as the rank-update paper's notebook).", DefaultValueFactory = _ => ContinualLoss.CrossEntropy };
        var pixels = new Option<string>("--pixels") { Description = "Network inputs: normalized (per-channel mean and std), or raw (pixel values 0..255, as the rank-update paper's notebook).", DefaultValueFactory = _ => "normalized" };
        var seed = CliOptions.Seed("Seed of the permutations, subsets, initialisation and batch order.");
        var output = new Option<string?>("--out", "-o") { Description = "Folder for accuracy.csv, summary.csv, result.json, accuracy.png, average.png (default runs/continual/METHOD-TASKS-sSEED)." };
        var quiet = CliOptions.Quiet();
        var command = new Command("continual",
            "Continual (task-incremental) learning on an MLP: learns the tasks one after another with the chosen method and, after each, " +
            "tests every task so far: the accuracy matrix, average accuracy, backward transfer (mean of A[T][j] − A[j][j]; negative is forgetting), " +
            "parameters and bytes stored. Writes them as CSV and JSON with a heatmap of the matrix and a plot of average accuracy.")
        {
            method, tasks, count, hidden, epochs, epochsFirst, lr, lrFirst, batch, rankFirst, rankNext, pruneMethod, pruneFraction, retrain,
            trainSubset, testSubset, loss, pixels, seed, output, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string methodName = r.GetValue(method)!.Trim().ToLowerInvariant();
            if (!ContinualMethod.Names.Contains(methodName))
                throw new SurgeonException($"unknown --method '{methodName}': use {string.Join(", ", ContinualMethod.Names)}");
            string kind = TaskSequences.Check(r.GetValue(tasks)!.Trim().ToLowerInvariant());
            var options = new ContinualOptions
            {
                Hidden = ParseWidths(r.GetValue(hidden)!),
                Epochs = r.GetValue(epochs),
                EpochsFirst = r.GetValue(epochsFirst),
                LearningRate = r.GetValue(lr),
                LearningRateFirst = r.GetValue(lrFirst),
                BatchSize = r.GetValue(batch),
                RankFirst = r.GetValue(rankFirst),
                RankNext = r.GetValue(rankNext),
                PruneMethod = r.GetValue(pruneMethod)!,
                PruneFraction = r.GetValue(pruneFraction),
                RetrainEpochs = r.GetValue(retrain),
                Seed = r.GetValue(seed),
                Loss = r.GetValue(loss)!.Trim().ToLowerInvariant(),
            };
            string pixelMode = r.GetValue(pixels)!.Trim().ToLowerInvariant();
            if (pixelMode is not ("normalized" or "raw")) throw new SurgeonException($"unknown --pixels '{pixelMode}': use normalized or raw");
            options.Validate();
            // An option of another method is a mistake, not something to ignore silently.
            var only = new (Option Option, string Method)[] { (rankFirst, "rank-update"), (rankNext, "rank-update"), (pruneMethod, "packnet"), (pruneFraction, "packnet"), (retrain, "packnet") };
            if (only.FirstOrDefault(o => o.Method != methodName && r.GetResult(o.Option) is { Implicit: false }) is { Option: not null } stray)
                throw new SurgeonException($"{stray.Option.Name} applies to --method {stray.Method} only");
            if (methodName == "packnet")
                _ = Surgeon.Pruning.PruningMethods.Get(options.PruneMethod); // an unknown method name fails before any training
            int taskCount = r.GetValue(count) ?? TaskSequences.DefaultCount(kind);
            int trainPer = CliOptions.SubsetCount(r.GetValue(trainSubset), "--train-subset"), testPer = CliOptions.SubsetCount(r.GetValue(testSubset), "--test-subset");
            string outFolder = r.GetValue(output) ?? Workflows.DefaultRunsPath("continual", $"{methodName}-{kind}-s{options.Seed}");
            string source = TaskSequences.Source(kind);
            new RunPaths().ReadsData(source).WritesFolder(outFolder, "--out", Files).Check();
            var (train, test) = DatasetCatalog.Load(source);
            if (pixelMode == "raw") (train, test) = (TaskSequences.RawPixels(train), TaskSequences.RawPixels(test));
            var sequence = TaskSequences.Create(kind, taskCount, options.Seed, train, test, trainPer == 0 ? null : trainPer, testPer == 0 ? null : testPer);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            using var continual = ContinualMethod.Create(methodName);
            var result = ContinualRun.Run(continual, kind, sequence, options, progress);
            Directory.CreateDirectory(outFolder);
            using (var files = new AtomicFileSet())
            {
                files.WriteText(Path.Combine(outFolder, "accuracy.csv"), result.MatrixCsv());
                files.WriteText(Path.Combine(outFolder, "summary.csv"), result.SummaryCsv());
                files.WriteText(Path.Combine(outFolder, "result.json"), result.Json());
                ContinualPlot.StageMatrix(files, Path.Combine(outFolder, "accuracy.png"), result);
                ContinualPlot.StageAverage(files, Path.Combine(outFolder, "average.png"), [result]);
                files.Commit();
            }
            Console.WriteLine($"{methodName} on {kind} ({taskCount} tasks, seed {options.Seed}): average accuracy {result.FinalAverage:P2}, " +
                $"backward transfer {result.FinalBackwardTransfer * 100:+0.00;-0.00;0.00} points, {result.Parameters[^1]:N0} parameters, " +
                $"{result.Bytes[^1]:N0} bytes ({result.BytesPerTask:N0} per task); wrote {outFolder}");
            return 0;
        }));
        return command;
    }

    /// <summary>Hidden widths, comma-separated (repeats allowed: 256,256).</summary>
    private static IReadOnlyList<int> ParseWidths(string text) =>
        text.Split(',', StringSplitOptions.TrimEntries).Select(p => int.TryParse(p, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int w) && w > 0
            ? w
            : throw new SurgeonException($"--hidden: '{p}' is not a positive whole number")).ToList();
}
