using Surgeon.Compression;
using Spectre.Console;
using Surgeon.Data;
using Surgeon.Modifiers;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Progress;
using Surgeon.Reports;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Cli;

/// <summary>The steps that several commands share: train and save, sweep and report, print tables.</summary>
internal static class Workflows
{
    /// <summary>
    /// The class-balanced subset of <paramref name="count"/> images that --train-subset or --test-subset
    /// (<paramref name="option"/>) asks for (0 = all). The same images for every --seed (subset seed 0), so seeds vary
    /// only the initialisation and the batches, fine-tuning with the same count sees the images the model was trained
    /// on, and every point of a sweep is evaluated on the same test images.
    /// </summary>
    public static ImageDataset BalancedSubset(ImageDataset data, int count, string option)
    {
        if (CliOptions.SubsetCount(count, option) == 0) return data;
        return data.Subset(data.BalancedSubset(count, seed: 0), $"{data.Name} (balanced subset of {count})");
    }

    /// <summary>The grids ADMM quantisation put the weights on, added to the compression state beside the masks.</summary>
    public static CompressionState? WithAdmmGrids(CompressionState? state, IEnumerable<Surgeon.Training.TrainingModifier> modifiers)
    {
        foreach (var q in modifiers.OfType<Surgeon.Modifiers.AdmmQuantizationModifier>())
            foreach (var (name, grid) in q.Grids)
            {
                state ??= new CompressionState();
                state.Tensors[name] = (state.Tensors.GetValueOrDefault(name) ?? new TensorCompression()) with { Quantization = grid };
            }
        return state;
    }

    public static (nn.Module<Tensor, Tensor> Model, CheckpointInfo Info) TrainAndSave(string modelName, double width,
        string dataSpec, TrainOptions options, string outPath, Device device, IProgressReporter progress,
        Recipe? recipe = null, DynamicsModifier? dynamics = null, int trainSubset = 0, IReadOnlyDictionary<string, string>? notes = null)
    {
        var (train, test) = DatasetCatalog.Load(dataSpec);
        train = BalancedSubset(train, trainSubset, "--train-subset");
        progress.Info($"data: {train.Name} {train.Count} samples, {test.Name} {test.Count} samples, {train.Channels}×{train.Height}×{train.Width}, {train.NumClasses} classes");
        int batchesPerEpoch = (train.Count + options.BatchSize - 1) / options.BatchSize;
        var modifiers = recipe?.CreateModifiers(options.Epochs, batchesPerEpoch) ?? [];
        foreach (var pwt in modifiers.OfType<PruneWhileTrainingModifier>()) pwt.Validate(options.Epochs, train.Count);
        torch.manual_seed(options.Seed);
        var spec = new ModelSpec(modelName, train.SampleShape, train.NumClasses, width);
        var model = ModelRegistry.Create(spec, device);
        progress.Info($"model: {modelName} ({ModelRegistry.Describe(modelName)}), {PrunableParameters.TotalCount(PrunableParameters.Discover(model)):N0} prunable weights");
        // The dynamics (loss, accuracy, ‖θ‖², θᵀg, ‖g‖², θᵀHg, size) go beside the checkpoint: PATH.dynamics.csv/.png. While
        // training, the CSV is rewritten after every record into a temporary file of the checkpoint's file set, so it
        // appears only together with the checkpoint: a run that fails or is interrupted leaves neither (nor new folders).
        using var files = new Surgeon.IO.AtomicFileSet();
        string dynamicsCsv = Checkpoint.DynamicsCsvPath(outPath);
        var log = new DynamicsLog(files.Reserve(dynamicsCsv));
        var recorder = new DynamicsModifier(log) { Samples = dynamics?.Samples ?? 500, EverySteps = dynamics?.EverySteps ?? 0 };
        using var loop = new TrainingLoop(options, model, train, device)
        {
            TestData = test,
            Progress = progress,
            Modifiers = [.. modifiers, recorder], // the recorder observes what the others did
            AfterEpoch = s => progress.Info($"epoch {s.Epoch,3}: lr {s.LearningRate:G3}  train loss {s.TrainLoss:F4}  train acc {s.TrainAccuracy:P2}  test loss {s.TestLoss:F4}  test acc {s.TestAccuracy:P2}  ({s.Seconds:F1}s)"),
        };
        loop.Run();
        model = loop.Model;
        var compression = WithAdmmGrids(CompressionState.FromMask(loop.Mask), modifiers);
        double sparsity = loop.Mask?.Sparsity ?? 0;
        loop.Mask?.Dispose();
        var quantised = QuantisedPlan(modifiers, model);
        if (quantised is not null) compression = Surgeon.Quantization.QuantizedCheckpoint.Store(compression, quantised, "qat");
        string label = modifiers.OfType<PruneWhileTrainingModifier>().FirstOrDefault()?.Method.Name ?? modelName;
        if (model is IStructuredModel structured) spec = structured.Spec;
        Surgeon.IO.AtomicFile.WriteAllText(log.CsvPath!, DynamicsLog.ToCsv(log.Records)); // also when no record was taken
        files.WriteVia(Checkpoint.DynamicsPngPath(outPath), temp => DynamicsPlot.WritePanels(temp, [(label, log.Records)]));
        var eval = EvaluateAs(model, quantised, test, device);
        var cost = ModelCost.Measure(model, train.SampleShape);
        var info = new CheckpointInfo
        {
            Architecture = modelName,
            InputShape = train.SampleShape,
            NumClasses = train.NumClasses,
            Width = width,
            Channels = spec.Channels,
            Dataset = dataSpec,
            Seed = options.Seed,
            TestAccuracy = eval.Accuracy,
            TestLoss = eval.Loss,
            Notes = new()
            {
                ["epochs"] = options.Epochs.ToString(),
                ["lr"] = options.LearningRate.ToString("R"),
                ["batchSize"] = options.BatchSize.ToString(),
                ["momentum"] = options.Momentum.ToString("R"),
                ["weightDecay"] = options.WeightDecay.ToString("R"),
                ["schedule"] = options.Schedule.ToString(),
                ["augment"] = options.Augment.ToString(),
                ["trainSamples"] = train.Count.ToString(),
                ["parameters"] = cost.Parameters.ToString(),
                ["flops"] = cost.Flops.ToString(),
                ["dynamics"] = Path.GetFileName(dynamicsCsv),
            },
            Recipe = recipe?.ToYaml(),
            Compression = compression,
            Sparsity = sparsity,
        };
        foreach (var (key, value) in notes ?? new Dictionary<string, string>()) info.Notes[key] = value;
        Checkpoint.Stage(files, outPath, model, info);
        files.Commit();
        return (model, Checkpoint.ReadInfo(outPath));
    }

    /// <summary>The quantised model a run's quantisation-aware training ends with (the last such modifier), or null.</summary>
    public static Surgeon.Quantization.QuantizedModel? QuantisedPlan(IEnumerable<TrainingModifier> modifiers, nn.Module model) =>
        modifiers.OfType<QuantizationAwareTrainingModifier>().LastOrDefault()?.FinalPlan(model);

    /// <summary>The test result of the model, or of its quantised form (fake quantisation) when <paramref name="plan"/> is given.</summary>
    public static EvalResult EvaluateAs(nn.Module<Tensor, Tensor> model, Surgeon.Quantization.QuantizedModel? plan, ImageDataset test, Device device)
    {
        if (plan is null) return Evaluator.Evaluate(model, test, device: device);
        using var forward = new Surgeon.Quantization.FakeQuantForward(model, plan);
        return Evaluator.Evaluate(model, test, device: device);
    }

    /// <summary>What a sweep writes into its folder: the journal, the reports and the lock file (checked before any work).</summary>
    public static IReadOnlyList<string> SweepFiles => [SweepResults.JournalFile, .. SweepReport.FileNames, Surgeon.IO.FolderLock.FileName];

    /// <summary>What --plan-only writes into its folder.</summary>
    public static IReadOnlyList<string> PlanFiles => [SweepPlan.FileName, Surgeon.IO.FolderLock.FileName];

    /// <summary>What a worker of a planned sweep writes into its folder (besides the claims folder).</summary>
    public static IReadOnlyList<string> WorkerFiles => [SweepResults.JournalFile];

    public static SweepReport SweepAndReport(nn.Module<Tensor, Tensor> model, CheckpointInfo info, string checkpointPath,
        string dataSpec, IReadOnlyList<PruningMethod> methods, IReadOnlyList<double> sparsities, IReadOnlyList<int> seeds,
        PruningOptions options, string outDir, Device device, IProgressReporter progress, int recalibrateBnSamples = 0,
        PrunableSet prunable = PrunableSet.Paper, int testSubset = 0, Func<int, Tensor>? fisherGradients = null)
    {
        // Finished points go to points.jsonl at once; a rerun of the same sweep (same weights, data and options) skips them.
        var inputs = SweepInputs.Load(model, info, dataSpec, options, prunable, testSubset);
        // The folder is this run's until it ends: a second sweep on it stops at once instead of computing the same points.
        using var folderLock = Surgeon.IO.FolderLock.Acquire(outDir, "--out-dir");
        var journal = new SweepJournal(Path.Combine(outDir, SweepResults.JournalFile), inputs.Key);
        var (journaled, warning) = journal.Load();
        if (warning is not null) progress.Info(warning);
        var done = journaled.Where(p => methods.Any(m => m.Name == p.Method || m.Name + SweepRunner.RecalibratedSuffix == p.Method)
            && sparsities.Contains(p.Sparsity) && seeds.Contains(p.Seed)).ToList();
        if (done.Count > 0)
            progress.Info($"resuming: {done.Count} point(s) already in {journal.Path}");
        var runner = inputs.Runner(model, methods, sparsities, seeds, options, recalibrateBnSamples, prunable, device, progress,
            done: done, onPoint: journal.Append, fisherGradients: fisherGradients);
        var (dense, points) = runner.Run();
        var config = new Dictionary<string, string>
        {
            ["checkpoint"] = Path.GetFullPath(checkpointPath),
            ["architecture"] = info.Architecture,
            ["data"] = dataSpec,
            ["methods"] = string.Join(",", methods.Select(m => m.Name)),
            ["sparsities"] = string.Join(",", sparsities),
            ["seeds"] = string.Join(",", seeds),
            ["fisherSamples"] = options.FisherSamples.ToString(),
            ["lambda"] = options.Lambda.ToString("R"),
            ["blockSize"] = options.BlockSize.ToString(),
            ["examplesPerSample"] = options.ExamplesPerSample.ToString(),
            ["recalibrateBnSamples"] = recalibrateBnSamples.ToString(),
            ["prunable"] = prunable.ToString().ToLowerInvariant(),
        };
        var report = new SweepReport(dense, points, config);
        foreach (var file in report.WriteAll(outDir))
            progress.Info($"wrote {file}");
        return report;
    }

    /// <summary>
    /// Writes the plan of a sweep (plan.json) into <paramref name="outDir"/>, with the dense model's test result. When the
    /// folder already holds the same plan (every digest equal) it is kept, so the same command can be given again
    /// (resubmitting a sweep); another plan there is refused.
    /// </summary>
    public static SweepPlan WritePlan(nn.Module<Tensor, Tensor> model, CheckpointInfo info, string checkpointPath,
        string dataSpec, IReadOnlyList<PruningMethod> methods, IReadOnlyList<double> sparsities, IReadOnlyList<int> seeds,
        PruningOptions options, string outDir, Device device, IProgressReporter progress, int recalibrateBnSamples,
        PrunableSet prunable, int testSubset, string? fisherFile)
    {
        var inputs = SweepInputs.Load(model, info, dataSpec, options, prunable, testSubset);
        var (train, test, key) = inputs;
        var check = inputs.Runner(model, methods, sparsities, seeds, options, recalibrateBnSamples, prunable);
        int recalibrate = check.Recalibrates ? recalibrateBnSamples : 0;
        string planPath = Path.Combine(outDir, SweepPlan.FileName);
        SweepPlan Make(EvalResult dense) => SweepPlan.Create(checkpointPath, dataSpec, methods.Select(m => m.Name).ToList(), sparsities,
            seeds, options, prunable, recalibrate, testSubset, key, dense.Accuracy, dense.Loss) with
        { FisherFile = fisherFile is null ? null : Path.GetFullPath(fisherFile) };
        // What every point would refuse is refused now, before the plan exists (as a local sweep does before its first point).
        var parameters = PrunableParameters.Discover(model, prunable);
        foreach (var s in sparsities) SparsityTarget.PruneCount(s, PrunableParameters.TotalCount(parameters));
        var context = new PruningContext { Model = model, Parameters = parameters, TrainData = train, Options = options };
        foreach (var method in methods) method.Check(context);
        if (File.Exists(planPath))
        {
            var existing = SweepPlan.Load(planPath);
            var wanted = Make(new EvalResult(existing.DenseAccuracy, existing.DenseLoss, 0));
            if (!existing.Points.SequenceEqual(wanted.Points) || existing.FisherFile != wanted.FisherFile)
                throw new SurgeonException($"{outDir} already holds the plan of another sweep ({existing.Points.Count} points); give another --out-dir");
            progress.Info($"{planPath} already holds this plan ({existing.Points.Count} points); kept");
            return existing;
        }
        var plan = Make(Evaluator.Evaluate(model, test, device: device));
        using var folderLock = Surgeon.IO.FolderLock.Acquire(outDir, "--out-dir");
        Surgeon.IO.AtomicFile.WriteAllText(planPath, plan.ToJson());
        progress.Info($"wrote {planPath}: {plan.Points.Count} points (dense test accuracy {100 * plan.DenseAccuracy:F2} %)");
        return plan;
    }

    /// <summary>
    /// Runs the points of <paramref name="plan"/> whose indices are in <paramref name="indices"/>, as one worker among
    /// any number: each point is claimed (<see cref="SweepPlan.ClaimPath"/>) and checked against the journal under the
    /// claim, so a point another worker holds or has finished is skipped, and its line is appended before the claim
    /// is released. Returns the points computed and those skipped.
    /// </summary>
    public static (int Computed, int Skipped) RunPlan(SweepPlan plan, string outDir, IReadOnlySet<int> indices, Device device,
        IProgressReporter progress)
    {
        var (model, info) = Checkpoint.Load(plan.Checkpoint, device);
        using var _ = model;
        var inputs = SweepInputs.Load(model, info, plan.Data, plan.Options, plan.Prunable, plan.TestSubset);
        string key = inputs.Key;
        if (key != plan.Key)
            throw new SurgeonException($"the checkpoint {plan.Checkpoint} is not the one the plan in {outDir} was written for (its weights or settings differ); write a new plan with --plan-only");
        var methods = PruningMethods.Parse(string.Join(",", plan.Methods));
        var gradients = plan.FisherFile is null ? null
            : Commands.FisherCommand.Open(plan.FisherFile, info, plan.Data, plan.Prunable,
                PrunableParameters.TotalCount(PrunableParameters.Discover(model, plan.Prunable)), plan.Options, plan.Seeds);
        Directory.CreateDirectory(Path.Combine(outDir, SweepPlan.ClaimsFolder));
        var journal = new SweepJournal(Path.Combine(outDir, SweepResults.JournalFile), key, SweepPlan.JournalLockPath(outDir));
        var byPoint = plan.Points.ToDictionary(p => (p.Method, p.Sparsity, p.Seed));
        bool recalibrates = plan.RecalibrateBnSamples > 0;
        int computed = 0, skipped = 0;
        IDisposable? Claim(string method, double sparsity, int seed)
        {
            var point = byPoint[(method, sparsity, seed)];
            if (!indices.Contains(point.Index)) return null;
            string claimPath = SweepPlan.ClaimPath(outDir, point.Index);
            var claim = Surgeon.IO.ExclusiveFileLock.TryAcquire(claimPath, recordHolder: true);
            if (claim is null)
            {
                skipped++;
                progress.Info($"{point.Describe()}: claimed by another worker ({Surgeon.IO.ExclusiveFileLock.Holder(claimPath) ?? "holder unknown"}); skipped");
                return null;
            }
            var (done, _) = journal.LoadLocked();
            bool Has(string name) => done.Any(p => p.Method == name && p.Sparsity == sparsity && p.Seed == seed);
            if (Has(method) && (!recalibrates || Has(method + SweepRunner.RecalibratedSuffix)))
            {
                claim.Dispose();
                skipped++;
                return null;
            }
            computed++;
            return claim;
        }
        var runner = inputs.Runner(model, methods, plan.Sparsities, plan.Seeds, plan.Options, plan.RecalibrateBnSamples, plan.Prunable,
            device, progress, onPoint: journal.Append, fisherGradients: gradients, claim: Claim, evaluateDense: false);
        runner.Run();
        return (computed, skipped);
    }

    public static void PrintSweepTable(SweepReport report, string title)
    {
        AnsiConsole.WriteLine(title);
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("sparsity");
        foreach (var m in report.Methods) table.AddColumn(new TableColumn(m).RightAligned());
        if (report.Dense is { } dense)
            table.AddRow(new[] { "dense" }.Concat(report.Methods.Select(_ => $"{100 * dense.Accuracy:F2}")).ToArray());
        foreach (double s in report.Sparsities)
            table.AddRow(new[] { s.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) }
                .Concat(report.Methods.Select(m => report.Cell(m, s))).ToArray());
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine("test accuracy (%), mean ± std over seeds where there are several");
    }

    public static void PrintLayerTable(MaskSet masks)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("sparsity per layer");
        table.AddColumn("layer");
        table.AddColumn(new TableColumn("weights").RightAligned());
        table.AddColumn(new TableColumn("pruned").RightAligned());
        table.AddColumn(new TableColumn("sparsity").RightAligned());
        foreach (var l in masks.PerLayer())
            table.AddRow(l.Name, l.Total.ToString("N0"), l.Pruned.ToString("N0"), $"{l.Sparsity:P2}");
        table.AddRow("[bold]total[/]", masks.Total.ToString("N0"), masks.PrunedCount.ToString("N0"), $"{masks.Sparsity:P2}");
        AnsiConsole.Write(table);
    }

    public static string DefaultRunsPath(params string[] parts) => Path.Combine(["runs", .. parts]);
}
