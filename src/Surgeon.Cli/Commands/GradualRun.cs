using System.CommandLine;
using System.Globalization;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Modifiers;
using Surgeon.Pruning;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Cli.Commands;

/// <summary>
/// The body of finetune and of prune --schedule gradual: load a checkpoint, fine-tune it holding its zeros (or prune it
/// gradually on the polynomial schedule while training, then fine-tune on), save the result with its sidecar, report.
/// </summary>
internal sealed class GradualRun
{
    /// <summary>The input: a checkpoint, or with <see cref="InputIsOnnx"/> an ONNX file (imported, and written back as ONNX).</summary>
    public required string CheckpointPath { get; init; }
    /// <summary>Whether <see cref="CheckpointPath"/> is an ONNX model (prune --onnx --schedule gradual): the output is then an ONNX file.</summary>
    public bool InputIsOnnx { get; init; }
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

    /// <summary>A recipe file to run instead of --method/--sparsity (then no gradual flag may be given).</summary>
    public string? RecipePath { get; init; }

    public int Execute(ParseResult r, GradualOptionSet gradual)
    {
        if ((Method is null) != (FinalSparsity is null))
            throw new SurgeonException("gradual pruning needs both --method and --sparsity; give neither to fine-tune only");
        if (FinalSparsity is { } sf) SparsityTarget.Validate(sf);
        if (RecipePath is not null && Method is not null)
            throw new SurgeonException("--recipe and --method both say how to prune; put the pruning in the recipe, or drop --recipe");
        if (RecipePath is not null && gradual.GivenScheduleOptions(r).FirstOrDefault() is { } scheduleOption)
            throw new SurgeonException($"{scheduleOption} belongs to --method's schedule; a recipe gives its own");
        if (Method is { PrunesFilters: true })
            throw new SurgeonException($"{Method.Name}: gradual pruning holds a mask of single weights; @filter removes filters (train --prune-measure does that while training)");
        if (Prunable is not null) PrunableParameters.ParseSet(Prunable); // a bad --prunable fails before the checkpoint loads
        var recipeFile = RecipePath is null ? null : Recipe.Load(RecipePath);
        int subsetCount = gradual.TrainSubset(r);
        var dev = CliOptions.ParseDevice(DeviceName);
        var progress = new ConsoleProgress(Quiet);
        string outPath = OutPath ?? Path.Combine(Path.GetDirectoryName(CheckpointPath) ?? ".", DefaultOutName);
        if (InputIsOnnx && RecipePath is not null)
            throw new SurgeonException("--recipe needs a checkpoint; an ONNX model prunes gradually with --method and --sparsity");
        var paths = InputIsOnnx
            ? new Surgeon.IO.RunPaths().Reads(CheckpointPath, $"the ONNX file {CheckpointPath}").ReadsData(DataSpec ?? DatasetCatalog.Digits).Writes(outPath, "--out")
            : new Surgeon.IO.RunPaths().ReadsCheckpoint(CheckpointPath).ReadsData(CliOptions.DataOf(DataSpec, CheckpointPath)).WritesCheckpoint(outPath, "--out");
        if (RecipePath is not null) paths.Reads(RecipePath, $"the --recipe file {RecipePath}");
        paths.Check();
        var (model, info) = InputIsOnnx ? LoadOnnx(dev) : Checkpoint.Load(CheckpointPath, dev);
        // A factorised checkpoint (surgeon factorize) fine-tunes in factored form: every factorised weight is put back on
        // its rank after each step. Pruning or quantising it would leave the ranks its sidecar records.
        var ranks = info.Compression?.Tensors.Where(t => t.Value.Factorized is not null)
            .ToDictionary(t => t.Key, t => t.Value.Factorized!.Rank, StringComparer.Ordinal) ?? [];
        if (ranks.Count > 0 && (Method is not null || recipeFile is not null))
        {
            model.Dispose();
            throw new SurgeonException($"{CheckpointPath} is factorised: fine-tune it without --method or --recipe (it trains in factored form, each weight kept at its rank)");
        }
        // A pruned checkpoint's zeros are held in the set it was pruned in, unless --prunable says otherwise.
        var prunableSet = PrunableParameters.ParseSet(Prunable ?? info.Notes.GetValueOrDefault("prunable") ?? "paper");
        // A final sparsity that prunes no weight (0, −0, a subnormal, one that rounds to zero) fails before training.
        if (FinalSparsity is { } final)
            SparsityTarget.PruneCount(final, PrunableParameters.TotalCount(PrunableParameters.Discover(model, prunableSet)));
        string dataSpec = DataSpec ?? info.Dataset;
        var (train, test) = DatasetCatalog.Load(dataSpec);
        train = Workflows.BalancedSubset(train, subsetCount, "--train-subset");
        info.EnsureFits(test);
        int batchesPerEpoch = (train.Count + Training.BatchSize - 1) / Training.BatchSize;
        long totalSteps = (long)Training.Epochs * batchesPerEpoch;
        var schedule = FinalSparsity is { } target ? gradual.Schedule(r, target, totalSteps) : null;
        var inv = CultureInfo.InvariantCulture;
        string prunableName = prunableSet.ToString().ToLowerInvariant();
        // The flags build the recipe a file would give: gradual pruning to --sparsity, or a fixed mask.
        var recipe = recipeFile ?? (Method is null
            ? ranks.Count > 0
                ? Recipe.Of(Recipe.FlagsSource, ("fixed-rank", [("ranks", FixedRankModifier.Format(ranks))]))
                : Recipe.Of(Recipe.FlagsSource, ("fixed-mask", [("prunable", prunableName)]))
            : Recipe.Of(Recipe.FlagsSource, ("gradual-pruning",
            [
                ("method", Method.Name),
                ("final-sparsity", schedule!.Final.ToString("R", inv)),
                ("initial-sparsity", schedule.Initial.ToString("R", inv)),
                ("start-step", "0"),
                ("end-step", schedule.Steps.ToString(inv)),
                ("every-steps", schedule.Every.ToString(inv)),
                ("prunable", prunableName),
                .. OptionFields(Fisher),
            ])));
        var modifiers = recipe.CreateModifiers(Training.Epochs, batchesPerEpoch);
        var before = Evaluator.Evaluate(model, test, device: dev);
        // Fine-tuning holds the stored mask (a zero weight that is not masked may move); a checkpoint without one
        // (format 1, or never pruned) has its zeros held instead.
        var stored = info.Compression?.ToMask(PrunableParameters.Discover(model, prunableSet));
        TrainingLoop? running = null;
        using var loop = running = new TrainingLoop(Training, model, train, dev)
        {
            TestData = test,
            Progress = progress,
            Modifiers = modifiers,
            AfterEpoch = s => progress.Info($"epoch {s.Epoch,3}: sparsity {running!.Mask?.Sparsity ?? 0:P2}  train loss {s.TrainLoss:F4}  test acc {s.TestAccuracy:P2}  ({s.Seconds:F1}s)"),
            Mask = stored,
        };
        loop.Run(Method is null && recipeFile is null ? "fine-tuning" : "gradual pruning and fine-tuning");
        model = loop.Model;
        using var mask = loop.Mask ?? FixedMaskModifier.NonzeroPattern(PrunableParameters.Discover(model, prunableSet));
        loop.Mask = null;
        // Quantisation-aware training in the recipe makes the checkpoint a quantised one, evaluated as such.
        var quantised = Workflows.QuantisedPlan(modifiers, model);
        var after = Workflows.EvaluateAs(model, quantised, test, dev);
        // A recipe that removed filters (prune-while-training with @filter) leaves a smaller model: describe that one.
        if (model is Surgeon.Models.IStructuredModel shrunk) info = info.WithSpec(shrunk.Spec);
        string pruning = recipeFile is not null ? $"recipe {recipeFile.Source}" : Method is null ? "" : $"gradual {Method.Name}";
        if (InputIsOnnx)
            return WriteOnnx(model, mask, pruning, before, after, outPath);
        Checkpoint.Save(outPath, model, info with
        {
            TestAccuracy = after.Accuracy,
            TestLoss = after.Loss,
            Sparsity = mask.Sparsity,
            PruningMethod = pruning.Length == 0 ? info.PruningMethod : pruning,
            Dataset = dataSpec,
            Recipe = recipe.ToYaml(),
            Compression = ranks.Count > 0 ? info.Compression // fixed-rank held every factorised weight at its rank
                : quantised is null ? Workflows.WithAdmmGrids(CompressionState.FromMask(mask), modifiers)
                : Surgeon.Quantization.QuantizedCheckpoint.Store(Workflows.WithAdmmGrids(CompressionState.FromMask(mask), modifiers), quantised, "qat"),
            Notes = new(info.Notes)
            {
                ["finetunedFrom"] = Path.GetFullPath(CheckpointPath),
                ["finetuneEpochs"] = Training.Epochs.ToString(inv),
                ["finetuneLr"] = Training.LearningRate.ToString("R", inv),
                ["finetuneSeed"] = Training.Seed.ToString(inv),
                ["finetuneTrainImages"] = train.Count.ToString(inv),
                ["prunable"] = prunableName,
                ["gradualSchedule"] = schedule is null ? "none" : $"s_i {schedule.Initial.ToString("R", inv)}, s_f {schedule.Final.ToString("R", inv)}, T {schedule.Steps}, f {schedule.Every}",
            },
        });
        Workflows.PrintLayerTable(mask);
        if (quantised is not null) Console.WriteLine($"quantisation-aware training: {quantised.Describe()}");
        // A recipe without pruning (QAT alone) leaves no zeros: say nothing of a sparsity it did not aim for.
        string sparsityPart = mask.Sparsity > 0 ? $" to {mask.Sparsity:P2}" : "";
        Console.WriteLine($"{(pruning.Length == 0 ? "fine-tuned" : $"{pruning}{sparsityPart}, fine-tuned")}{(quantised is null ? "" : " (quantised)")}: " +
            $"accuracy {before.Accuracy:P2} → {after.Accuracy:P2}, loss {before.Loss:F4} → {after.Loss:F4}; wrote {outPath}");
        return 0;
    }

    /// <summary>The imported graph (its data checked as prune --onnx does) and the description the loop's checks read.</summary>
    private (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Model, CheckpointInfo Info) LoadOnnx(TorchSharp.torch.Device device)
    {
        string dataSpec = DataSpec ?? DatasetCatalog.Digits;
        var (model, _, _) = OnnxRun.Load(CheckpointPath, dataSpec);
        if (device.type != TorchSharp.DeviceType.CPU) model.to(device);
        return (model, OnnxRun.Describe(model, CheckpointPath, dataSpec));
    }

    /// <summary>The trained graph written back as ONNX: its pruned weights are exact zeros (the mask is applied after every step).</summary>
    private static int WriteOnnx(TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> model, MaskSet mask, string pruning,
        EvalResult before, EvalResult after, string outPath)
    {
        var graph = model as Surgeon.Models.Onnx.OnnxGraphModel
            ?? throw new InvalidOperationException($"gradual pruning of an ONNX graph ended with a {model.GetType().Name}");
        graph.to(TorchSharp.torch.CPU);
        var written = Surgeon.Export.Onnx.OnnxGraphExport.Write(graph, outPath);
        Workflows.PrintLayerTable(mask);
        Console.WriteLine($"{pruning} to {mask.Sparsity:P2}, fine-tuned, on {graph.FileName}: accuracy {before.Accuracy:P2} → {after.Accuracy:P2}, " +
            $"loss {before.Loss:F4} → {after.Loss:F4}; wrote {outPath} ({written.Details})");
        return 0;
    }

    /// <summary>The pruning options that differ from their defaults, as recipe fields.</summary>
    private static IEnumerable<(string, string)> OptionFields(PruningOptions o)
    {
        var d = new PruningOptions();
        var inv = CultureInfo.InvariantCulture;
        if (o.FisherSamples != d.FisherSamples) yield return ("fisher-samples", o.FisherSamples.ToString(inv));
        if (o.Lambda != d.Lambda) yield return ("lambda", o.Lambda.ToString("R", inv));
        if (o.BlockSize != d.BlockSize) yield return ("block-size", o.BlockSize.ToString(inv));
        if (o.ExamplesPerSample != d.ExamplesPerSample) yield return ("examples-per-sample", o.ExamplesPerSample.ToString(inv));
        if (o.UpdateScale != d.UpdateScale) yield return ("update-scale", o.UpdateScale.ToString("R", inv));
        if (o.CbsEpsilon != d.CbsEpsilon) yield return ("cbs-epsilon", o.CbsEpsilon.ToString("R", inv));
        if (o.CbsRelativeEpsilon != d.CbsRelativeEpsilon) yield return ("cbs-relative-epsilon", o.CbsRelativeEpsilon ? "true" : "false");
        if (o.CbsRho != d.CbsRho) yield return ("cbs-rho", o.CbsRho.ToString(inv));
        if (o.CbsTau != d.CbsTau) yield return ("cbs-tau", o.CbsTau.ToString(inv));
        if (o.CbsMaxIterations != d.CbsMaxIterations) yield return ("cbs-iterations", o.CbsMaxIterations.ToString(inv));
        if (o.CbsCandidates != d.CbsCandidates) yield return ("cbs-candidates", o.CbsCandidates.ToString(inv));
        if (o.CbsLossSamples != d.CbsLossSamples) yield return ("cbs-loss-samples", o.CbsLossSamples.ToString(inv));
        if (o.CbsStartScoring != d.CbsStartScoring) yield return ("cbs-start-scoring", o.CbsStartScoring.Name());
        if (o.ScoreSamples != d.ScoreSamples) yield return ("score-samples", o.ScoreSamples.ToString(inv));
    }
}
