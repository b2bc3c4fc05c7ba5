using Surgeon.Compression;
using System.CommandLine;
using Surgeon.Pruning;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Cli.Commands;

internal static class SweepCommand
{
    public const string DefaultSparsities = "0.5,0.6,0.7,0.8,0.9,0.95,0.98";

    public static Command Create()
    {
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "Trained (dense) checkpoint to prune (not with --point / --shard, which read it from the plan); or give --onnx." };
        var onnx = new Option<string?>("--onnx")
        {
            Description = "An ONNX model to sweep instead of a checkpoint (imported as 'prune --onnx' does; --data default digits). " +
                "Runs in this process: not with --plan-only, --slurm, --k8s or --fisher-file.",
        };
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
        var planOnly = new Option<bool>("--plan-only")
        {
            Description = "Write the sweep's plan (plan.json: its points, each with the digest of its configuration, and the dense accuracy) into --out-dir " +
                "and stop. Workers then run it: 'surgeon sweep --out-dir D' runs every point no other worker holds or has finished, --point or --shard a part; " +
                "'surgeon report sweep D' builds the table from what has finished. Any number of workers may share D (shared storage for a cluster).",
        };
        var point = new Option<int?>("--point")
        {
            Description = "Run point I (0-based) of the plan in --out-dir (written by --plan-only); skipped when another worker holds it or it is done.",
            HelpName = "I",
        };
        var shard = new Option<string?>("--shard")
        {
            Description = "Run shard I of N of the plan in --out-dir: the points whose index is I modulo N (I from 0).",
            HelpName = "I/N",
        };
        var fisher = new PruningOptionSet();
        var fisherFile = FisherCommand.FileOption();
        var command = new Command("sweep", "One-shot pruning over a grid of methods × sparsities × seeds, each from the same dense weights; prints and writes the accuracy table.")
        {
            checkpoint, onnx, methods, sparsities, seeds, outDir, data, prunable, recalibrate, testSubset, device, quiet, planOnly, point, shard,
        };
        fisher.AddTo(command);
        command.Options.Add(fisherFile);
        var slurm = new SlurmOptionSet();
        slurm.AddTo(command);
        var k8s = new KubernetesOptionSet();
        k8s.AddTo(command);
        command.SetAction(r => Program.Guard(() =>
        {
            string? path = r.GetValue(checkpoint), onnxPath = r.GetValue(onnx);
            if (onnxPath is not null)
            {
                if (path is not null) throw new SurgeonException("give --checkpoint or --onnx, not both");
                var planned = new Option[] { planOnly, point, shard, fisherFile }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
                if (planned is not null || slurm.Wanted(r) || k8s.Wanted(r))
                    throw new SurgeonException($"{planned?.Name ?? (slurm.Wanted(r) ? "--slurm" : "--k8s")} needs a checkpoint (workers and Fisher files read one); " +
                        "--onnx sweeps in this process (import the weights into a registry model to plan a sweep)");
            }
            else if (path is null)
            {
                // A worker of a planned sweep: everything but where and how comes from the plan.
                var allowed = new Option[] { outDir, point, shard, device, quiet };
                var stray = command.Options.FirstOrDefault(o => !allowed.Contains(o) && r.GetResult(o) is { Implicit: false });
                if (stray is not null)
                    throw new SurgeonException(r.GetValue(planOnly) || slurm.Wanted(r) || k8s.Wanted(r)
                        ? $"{(r.GetValue(planOnly) ? "--plan-only" : slurm.Wanted(r) ? "--slurm" : "--k8s")} needs --checkpoint (the dense model to plan the sweep of)"
                        : $"{stray.Name} belongs to the plan: without --checkpoint, sweep runs the plan in --out-dir as it was written (give --checkpoint and --plan-only to write a plan)");
                string? planFolder = r.GetValue(outDir);
                if (planFolder is null)
                    throw new SurgeonException("give --checkpoint to sweep, or --out-dir D to run the plan in D (written by --plan-only)");
                return RunPlan(planFolder, r.GetValue(point), r.GetValue(shard), CliOptions.ParseDevice(r.GetValue(device)!),
                    new ConsoleProgress(r.GetValue(quiet)));
            }
            if (r.GetValue(point) is not null || r.GetValue(shard) is not null)
                throw new SurgeonException("--point and --shard run the plan in --out-dir, which names its checkpoint: drop --checkpoint");
            bool writePlan = r.GetValue(planOnly) || slurm.Wanted(r) || k8s.Wanted(r);
            var methodList = PruningMethods.Parse(r.GetValue(methods)!);
            var sparsityList = CliOptions.ParseDoubles(r.GetValue(sparsities)!, "--sparsities");
            foreach (var s in sparsityList) SparsityTarget.Validate(s);
            var seedList = CliOptions.ParseInts(r.GetValue(seeds)!, "--seeds");
            slurm.CheckEarly(r, methodList.Count * sparsityList.Count * seedList.Count);
            k8s.CheckEarly(r);
            if (slurm.Wanted(r) && k8s.Wanted(r)) throw new SurgeonException("--slurm and --k8s both say where the plan runs; give one");
            var options = fisher.Read(r);
            var prunableSet = PrunableParameters.ParseSet(r.GetValue(prunable)!);
            int recalibrateSamples = r.GetValue(recalibrate);
            int testImages = CliOptions.SubsetCount(r.GetValue(testSubset), "--test-subset");
            if (recalibrateSamples < 0) throw new SurgeonException($"--recalibrate-bn must be 0 (off) or a number of samples, got {recalibrateSamples}");
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            string folder = r.GetValue(outDir) ?? Workflows.DefaultRunsPath($"sweep-{Path.GetFileNameWithoutExtension(path ?? onnxPath)}");
            if (onnxPath is not null)
                return SweepOnnx(onnxPath, r.GetValue(data) ?? Surgeon.Data.DatasetCatalog.Digits, methodList, sparsityList, seedList, options,
                    folder, dev, progress, recalibrateSamples, prunableSet, testImages);
            if (path is null) throw new InvalidOperationException("a checkpoint sweep without --checkpoint");
            string? fisherPath = r.GetValue(fisherFile);
            if (k8s.Wanted(r)) k8s.Options(r, path, folder, memoryMiB: 1).Validate(path, fisherPath, folder); // before any work
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).ReadsData(CliOptions.DataOf(r.GetValue(data), path))
                .Reads(fisherPath ?? "", $"the --fisher-file {fisherPath}")
                .WritesFolder(folder, "--out-dir", writePlan ? [.. Workflows.PlanFiles, .. SlurmOptionSet.Files, .. KubernetesOptionSet.Files] : Workflows.SweepFiles).Check();
            var (model, info) = Checkpoint.Load(path, dev);
            string dataSpec = r.GetValue(data) ?? info.Dataset;
            long weights = PrunableParameters.TotalCount(PrunableParameters.Discover(model, prunableSet));
            if (writePlan)
            {
                using (model)
                {
                    // The workers read the file; here only its header is checked against the plan.
                    if (fisherPath is not null)
                        FisherCommand.CheckHeader(fisherPath, info, dataSpec, prunableSet, weights, options, seedList);
                    var plan = Workflows.WritePlan(model, info, path, dataSpec, methodList, sparsityList, seedList,
                        options, folder, dev, progress, recalibrateSamples, prunableSet, testImages, fisherPath);
                    Console.WriteLine($"{Path.Combine(folder, SweepPlan.FileName)}: {plan.Points.Count} points; run them with 'surgeon sweep --out-dir {folder}' (any number of workers)");
                    if (slurm.Wanted(r))
                    {
                        long memory = SlurmOptionSet.MemoryMiB(model, info.InputShape, methodList, options, prunableSet, sparsityList);
                        slurm.WriteAndSubmit(r, plan, folder, memory);
                    }
                    if (k8s.Wanted(r))
                    {
                        long memory = SlurmOptionSet.MemoryMiB(model, info.InputShape, methodList, options, prunableSet, sparsityList);
                        KubernetesOptionSet.Write(plan, folder, k8s.Options(r, path, folder, memory));
                    }
                }
                return 0;
            }
            var gradients = fisherPath is null ? null : FisherCommand.Open(fisherPath, info, dataSpec, prunableSet, weights, options, seedList);
            var report = Workflows.SweepAndReport(model, info, path, dataSpec, methodList, sparsityList,
                seedList, options, folder, dev, progress, recalibrateSamples, prunableSet, testImages, gradients);
            Workflows.PrintSweepTable(report, $"{info.Architecture} on {info.Dataset}: one-shot pruning, no fine-tuning");
            return 0;
        }));
        return command;
    }

    /// <summary>The sweep of an imported ONNX graph: the same runner, table, files and plot as a checkpoint's.</summary>
    private static int SweepOnnx(string onnxPath, string dataSpec, IReadOnlyList<PruningMethod> methods, IReadOnlyList<double> sparsities,
        IReadOnlyList<int> seeds, PruningOptions options, string folder, TorchSharp.torch.Device device, ConsoleProgress progress,
        int recalibrateSamples, PrunableSet prunable, int testImages)
    {
        new Surgeon.IO.RunPaths().Reads(onnxPath, $"the ONNX file {onnxPath}").ReadsData(dataSpec).WritesFolder(folder, "--out-dir", Workflows.SweepFiles).Check();
        var (model, _, _) = OnnxRun.Load(onnxPath, dataSpec);
        using (model)
        {
            if (device.type != TorchSharp.DeviceType.CPU) model.to(device);
            var info = OnnxRun.Describe(model, onnxPath, dataSpec);
            var report = Workflows.SweepAndReport(model, info, onnxPath, dataSpec, methods, sparsities, seeds, options, folder, device, progress,
                recalibrateSamples, prunable, testImages);
            Workflows.PrintSweepTable(report, $"{Path.GetFileName(onnxPath)} on {dataSpec}: one-shot pruning, no fine-tuning");
        }
        return 0;
    }

    /// <summary>Runs the plan in <paramref name="folder"/>: one point, one shard, or every point left.</summary>
    private static int RunPlan(string folder, int? point, string? shard, TorchSharp.torch.Device device, ConsoleProgress progress)
    {
        if (point is not null && shard is not null) throw new SurgeonException("give --point or --shard, not both");
        string planPath = Path.Combine(folder, SweepPlan.FileName);
        var plan = SweepPlan.Load(planPath);
        var indices = plan.Points.Select(p => p.Index).ToHashSet();
        string part = "every point left";
        if (point is { } i)
        {
            if (i < 0 || i >= plan.Points.Count)
                throw new SurgeonException($"--point {i} is out of range: the plan in {folder} has {plan.Points.Count} points, 0 to {plan.Points.Count - 1}");
            indices = [i];
            part = $"point {plan.Points[i].Describe()}";
        }
        if (shard is not null)
        {
            var (index, count) = ParseShard(shard);
            indices = plan.Shard(index, count).Select(p => p.Index).ToHashSet();
            part = $"shard {index}/{count} ({indices.Count} points)";
        }
        new Surgeon.IO.RunPaths().Reads(planPath, $"the sweep plan {planPath}").ReadsCheckpoint(plan.Checkpoint)
            .ReadsData(CliOptions.DataOf(plan.Data, plan.Checkpoint)).Reads(plan.FisherFile ?? "", $"the Fisher file {plan.FisherFile} of the plan")
            .WritesFolder(folder, "--out-dir", Workflows.WorkerFiles).Check();
        progress.Info($"sweep worker (pid {Environment.ProcessId}): {part} of the {plan.Points.Count}-point plan in {folder}");
        var (computed, skipped) = Workflows.RunPlan(plan, folder, indices, device, progress);
        Console.WriteLine($"computed {computed} point(s), skipped {skipped} (finished or held by another worker); 'surgeon report sweep {folder}' builds the table");
        return 0;
    }

    /// <summary>"I/N" with 0 ≤ I &lt; N.</summary>
    private static (int Index, int Count) ParseShard(string text)
    {
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index)
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count)
            && count >= 1 && index < count)
            return (index, count);
        throw new SurgeonException($"--shard '{text}' is not I/N with 0 ≤ I < N (e.g. 0/4)");
    }
}
