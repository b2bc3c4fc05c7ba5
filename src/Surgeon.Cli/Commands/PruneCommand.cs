using Surgeon.Compression;
using System.CommandLine;
using Surgeon.Data;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class PruneCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "Trained checkpoint to prune (or give --onnx)." };
        var onnx = new Option<string?>("--onnx")
        {
            Description = "An ONNX model to prune instead of a checkpoint (Conv, Gemm, MatMul, BatchNormalization, pools, activations, Add, Concat, " +
                "Reshape, …; opset 7 and later). --data gives the data (default digits); --out is the pruned ONNX file, with the original node and tensor names.",
        };
        var method = new Option<string>("--method", "-m")
        {
            Description = "Pruning method, score[@rule][+update] or selection[+update] (surgeon methods lists them all), e.g. " +
                string.Join(", ", PruningMethods.Examples) + ". With @filter the sparsity is the fraction of filters removed (the model shrinks).",
            DefaultValueFactory = _ => "mp",
        };
        var sparsity = new Option<double>("--sparsity", "-s") { Description = "Fraction of the prunable weights to remove, in [0, 1).", Required = true };
        var output = new Option<string?>("--out", "-o") { Description = "Pruned checkpoint (with --onnx: ONNX file) to write (default: beside the input, named after method and sparsity)." };
        var data = CliOptions.Data("Data for evaluation and for gradient-based methods (default: the checkpoint's dataset).");
        var seed = CliOptions.Seed("Seed of the Fisher sample and of randomised steps.");
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var recalibrate = CliOptions.RecalibrateBn();
        var prunable = CliOptions.Prunable();
        var fisher = new PruningOptionSet();
        var fisherFile = FisherCommand.FileOption();
        var schedule = new Option<string>("--schedule")
        {
            Description = "one-shot: prune once, no training (the default); gradual: prune on the polynomial schedule s_t = s_f + (s_i − s_f)(1 − t/T)³ " +
                "while fine-tuning with SGD (the options --epochs, --lr, --initial-sparsity, --prune-steps, --prune-every, … apply), as surgeon finetune -m -s does.",
            DefaultValueFactory = _ => "one-shot",
            HelpName = "one-shot|gradual",
        };
        var gradual = new GradualOptionSet();
        var command = new Command("prune", "Prune a checkpoint to one sparsity, in one shot (no training) or gradually while fine-tuning; writes the pruned checkpoint " +
            "(exact zeros) and prints accuracy before and after.")
        {
            checkpoint, onnx, method, sparsity, output, data, seed, prunable, schedule, recalibrate, device, quiet,
        };
        gradual.AddTo(command);
        fisher.AddTo(command);
        command.Options.Add(fisherFile);
        command.SetAction(r => Program.Guard(() =>
        {
            string? onnxPath = r.GetValue(onnx);
            if ((onnxPath is null) == (r.GetValue(checkpoint) is null))
                throw new SurgeonException(onnxPath is null ? "give the model to prune: --checkpoint FILE or --onnx FILE" : "give --checkpoint or --onnx, not both");
            string path = r.GetValue(checkpoint) ?? "";
            double s = r.GetValue(sparsity);
            SparsityTarget.Validate(s);
            var pruningMethod = PruningMethods.Get(r.GetValue(method)!);
            string scheduleName = r.GetValue(schedule)!.Trim().ToLowerInvariant();
            if (scheduleName is not ("one-shot" or "gradual"))
                throw new SurgeonException($"unknown --schedule '{r.GetValue(schedule)}': use one-shot or gradual");
            if (scheduleName == "gradual")
            {
                if (r.GetResult(recalibrate) is { Implicit: false })
                    throw new SurgeonException("--recalibrate-bn applies to one-shot pruning only (gradual pruning trains, which keeps the BatchNorm statistics current)");
                var run = new GradualRun
                {
                    CheckpointPath = onnxPath ?? path,
                    InputIsOnnx = onnxPath is not null,
                    Method = pruningMethod,
                    FinalSparsity = s,
                    DataSpec = r.GetValue(data),
                    OutPath = r.GetValue(output),
                    DefaultOutName = $"{Path.GetFileNameWithoutExtension(onnxPath ?? path)}-gradual-{pruningMethod.Name}-{s:0.###}{(onnxPath is null ? ".ckpt" : ".onnx")}",
                    Prunable = r.GetValue(prunable),
                    Training = gradual.Training(r, r.GetValue(seed)),
                    Fisher = fisher.Read(r),
                    DeviceName = r.GetValue(device)!,
                    Quiet = r.GetValue(quiet),
                };
                if (r.GetValue(fisherFile) is not null)
                    throw new SurgeonException("--fisher-file applies to one-shot pruning only (gradual pruning recomputes the Fisher of the weights it has reached)");
                return run.Execute(r, gradual);
            }
            if (gradual.Given(r).FirstOrDefault() is { } trainingOption)
                throw new SurgeonException($"{trainingOption} applies to --schedule gradual only; one-shot pruning does not train");
            var prunableSet = PrunableParameters.ParseSet(r.GetValue(prunable)!);
            var options = fisher.Read(r);
            int recalibrateSamples = r.GetValue(recalibrate);
            if (recalibrateSamples < 0) throw new SurgeonException($"--recalibrate-bn must be 0 (off) or a number of samples, got {recalibrateSamples}");
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            if (onnxPath is not null)
                return OnnxRun.Prune(new OnnxRun.PruneRequest(onnxPath, r.GetValue(output), r.GetValue(data) ?? DatasetCatalog.Digits, pruningMethod, s,
                    prunableSet, options, r.GetValue(seed), recalibrateSamples, dev, progress));
            string outPath = r.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(path) ?? ".",
                $"{Path.GetFileNameWithoutExtension(path)}-{pruningMethod.Name}-{s:0.###}.ckpt");
            string? fisherPath = r.GetValue(fisherFile);
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).ReadsData(CliOptions.DataOf(r.GetValue(data), path))
                .Reads(fisherPath ?? "", $"the --fisher-file {fisherPath}").WritesCheckpoint(outPath, "--out").Check();
            var (model, info) = Checkpoint.Load(path, dev);
            string dataSpec = r.GetValue(data) ?? info.Dataset;
            var (train, test) = DatasetCatalog.Load(dataSpec);
            info.EnsureFits(test);
            var parameters = PrunableParameters.Discover(model, prunableSet);
            if (!pruningMethod.PrunesFilters)
                SparsityTarget.PruneCount(s, PrunableParameters.TotalCount(parameters)); // rounds to zero weights: for every method alike
            var context = new PruningContext
            {
                Model = model,
                Parameters = parameters,
                TrainData = train,
                Seed = r.GetValue(seed),
                Device = dev,
                Progress = progress,
                Options = options,
                FisherGradients = fisherPath is null ? null
                    : FisherCommand.Open(fisherPath, info, dataSpec, prunableSet, PrunableParameters.TotalCount(parameters), options, [r.GetValue(seed)]),
                KeptFraction = 1 - s,
            };
            pruningMethod.Check(context); // a combination the model or the data cannot serve fails before any work
            var before = Evaluator.Evaluate(model, test, device: dev);
            var pruneClock = System.Diagnostics.Stopwatch.StartNew();
            using var result = pruningMethod.Prune(context, s);
            pruneClock.Stop();
            // An info line, not part of the result line: runs with one seed print identical results (DeterminismTests).
            progress.Info($"{pruningMethod.Name}: pruned in {pruneClock.Elapsed.TotalSeconds:F1} s (gradients, selection and update; not loading or evaluation)");
            var pruned = result.Model; // a smaller model when the method removed filters
            var after = Evaluator.Evaluate(pruned, test, device: dev);
            // Finite weights whose outputs overflow float32: a model no one can use, so no checkpoint (a sweep records
            // such a point as a result instead, its loss written as "Infinity" or "NaN").
            if (!double.IsFinite(after.Loss))
                throw new SurgeonException($"{pruningMethod.Name} at sparsity {s.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} gave a model whose outputs overflow float32 " +
                    $"(test loss {after.Loss.ToString(System.Globalization.CultureInfo.InvariantCulture)})" +
                    (pruningMethod.Update is null ? "" : $"; {PruningMethod.UpdateAdvice(options)}") + "; nothing was written");
            var saved = after; // what the written checkpoint scores: after recalibration when there is one
            string recalibration = "";
            if (recalibrateSamples > 0)
            {
                if (BatchNormRecalibration.Run(pruned, train, recalibrateSamples, context.Seed, device: dev) == 0)
                {
                    progress.Info($"--recalibrate-bn: {info.Architecture} has no BatchNorm layers, nothing to recalibrate");
                }
                else
                {
                    var recalibrated = Evaluator.Evaluate(pruned, test, device: dev);
                    recalibration = $"; after BatchNorm recalibration on {recalibrateSamples:N0} samples {recalibrated.Accuracy:P2}, loss {recalibrated.Loss:F4}";
                    saved = recalibrated;
                }
            }
            var described = pruned is Surgeon.Models.IStructuredModel shrunk && !ReferenceEquals(pruned, model) ? info.WithSpec(shrunk.Spec) : info;
            Checkpoint.Save(outPath, pruned, described with
            {
                TestAccuracy = saved.Accuracy,
                TestLoss = saved.Loss,
                Sparsity = result.Sparsity,
                Compression = CompressionState.FromMask(result.Mask), // removed filters need no mask: the model shrank
                PruningMethod = pruningMethod.Name,
                Dataset = dataSpec,
                Notes = new(info.Notes)
                {
                    ["prunedFrom"] = Path.GetFullPath(path),
                    ["pruneSeed"] = context.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["denseAccuracy"] = before.Accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                    ["prunable"] = prunableSet.ToString().ToLowerInvariant(),
                    ["recalibrateBnSamples"] = recalibrateSamples.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["method"] = pruningMethod.Canonical,
                    ["sparsityOf"] = pruningMethod.PrunesFilters ? "filters" : "weights",
                },
            });
            if (result.Mask is { } masks)
                Workflows.PrintLayerTable(masks);
            else
                Console.WriteLine($"filters: {string.Join(", ", ((Surgeon.Models.IStructuredModel)pruned).FilterGroups.Take(8).Select(g => $"{g.Name} {g.Channels}"))}{(((Surgeon.Models.IStructuredModel)pruned).FilterGroups.Count > 8 ? ", …" : "")}");
            Console.WriteLine($"{pruningMethod.Name} at {result.Sparsity:P2} sparsity{(pruningMethod.PrunesFilters ? " of the filters" : "")}: accuracy {before.Accuracy:P2} → {after.Accuracy:P2}, loss {before.Loss:F4} → {after.Loss:F4}{recalibration}; wrote {outPath}");
            return 0;
        }));
        return command;
    }
}
