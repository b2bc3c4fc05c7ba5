using System.Diagnostics;
using System.Globalization;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Selection;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// Where one CBS-S real-loss evaluation spends its time on ResNet-20 (docs/cbs-resnet20, Fashion-MNIST, paper prunable
/// set): each step of <see cref="MaskedRealLoss.Sum"/> done by hand and timed (flatten, mask tensor, assign, the data
/// batch, the forward, the read-back, the restore; wall and process CPU time, the latter less sensitive to load), then a start mask's construction
/// (<see cref="RandomizedMagnitude.Pruned(double[], long, int)"/>) and whole <see cref="MaskedRealLoss.Sum"/> calls on the first halving rung.
/// Environment: SURGEON_BENCH_MODEL = resnet20 (default) or mlpnet; SURGEON_BENCH_REPEATS (default 5).
/// </summary>
internal static class CbsPhaseProfileBench
{
    public static void Run()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        bool resnet = (Environment.GetEnvironmentVariable("SURGEON_BENCH_MODEL") ?? "resnet20") == "resnet20";
        int repeats = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_REPEATS"), out int r) ? r : 5;
        var (model, _) = Checkpoint.Load(resnet ? "docs/cbs-resnet20/resnet20-fashion.ckpt" : "docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        var (train, _) = resnet ? DatasetCatalog.Load(DatasetCatalog.FashionMnist) : DatasetCatalog.LoadEmbeddedDigits();
        var parameters = PrunableParameters.Discover(model, PrunableSet.Paper);
        var w = PrunableParameters.Flatten(parameters).to(ScalarType.Float64).data<double>().ToArray();
        var context = new PruningContext
        {
            Model = model,
            Parameters = parameters,
            TrainData = train,
            Seed = 0,
            Options = new PruningOptions(),
        };
        var samples = CbsSelection.LossSamples(context);
        long k = new PruneTarget(0.8).CountOf(w.Length);
        Console.WriteLine($"d = {w.Length:N0}, k = {k:N0}, {train.Count:N0} training images, threads {get_num_threads()}, load {Measure.LoadAverage()}");

        var phases = new Dictionary<string, (double Wall, double Cpu)>();
        bool gradientsOnly = Environment.GetEnvironmentVariable("SURGEON_BENCH_PART") == "gradients";
        var process = Process.GetCurrentProcess();
        void Time(string name, Action a)
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime;
            var c = Stopwatch.StartNew();
            a();
            double wall = c.Elapsed.TotalMilliseconds;
            process.Refresh();
            var (w0, c0) = phases.GetValueOrDefault(name);
            phases[name] = (w0 + wall, c0 + (process.TotalProcessorTime - cpu).TotalMilliseconds);
        }

        if (gradientsOnly)
        {
            // Per-sample gradients (the Fisher's rows) of 256 examples, computed in batches of several sizes.
            int total = 256;
            var reference = (Tensor?)null;
            foreach (int size in new[] { 256, 64, 32, 16 })
            {
                using var scope = NewDisposeScope();
                Tensor rows = null!;
                Time($"per-sample gradients of {total} in batches of {size}", () => rows = cat(Enumerable.Range(0, total / size).Select(b =>
                {
                    var (bx, by) = train.Batch(samples.AsSpan(b * size, size));
                    return Surgeon.Curvature.PerSampleGradients.Compute(model, parameters, bx, by);
                }).ToList(), 0));
                if (reference is null) reference = rows.DetachFromDisposeScope();
                else Console.WriteLine($"batches of {size}: max |row difference| from batches of {total} = {rows.sub(reference).abs().max().item<float>():G3} (max |row| {reference.abs().max().item<float>():G3})");
            }
            foreach (var (name, (wall, cpu)) in phases) Console.WriteLine($"| {name} | {wall:F0} | {cpu:F0} |");
            Console.WriteLine($"load {Measure.LoadAverage()}");
            return;
        }
        var mask = RandomizedMagnitude.Pruned(w, k, 1);
        int batch = Evaluator.DefaultBatchSize, first = 313;
        for (int rep = 0; rep < repeats; rep++)
        {
            using var scope = NewDisposeScope();
            Tensor original = null!, keep = null!, x = null!, y = null!, logits = null!;
            Time("flatten", () => original = PrunableParameters.Flatten(parameters));
            Time("mask tensor", () => keep = tensor(mask.Select(p => !p).ToArray()).to(original.device));
            Time("assign masked", () => PrunableParameters.Assign(parameters, original * keep));
            model.eval();
            using (no_grad())
            {
                Time($"batch of {first}", () => (x, y) = train.Batch(samples.AsSpan(0, first)));
                Time($"forward of {first}", () => logits = model.forward(x));
                Time("loss + read back", () => nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.None)
                    .to(ScalarType.Float64).cpu().data<double>().ToArray());
                foreach (int chunk in new[] { 4, 8, 16, 32, 64 })
                {
                    Tensor chunked = null!;
                    Time($"forward of {first} in chunks of {chunk}", () => chunked = cat(x.split(chunk).Select(c => model.forward(c)).ToList(), 0));
                    double diff = chunked.sub(logits).abs().max().item<float>();
                    if (rep == 0) Console.WriteLine($"chunks of {chunk}: max |logit difference| from one batch of {first} = {diff:G3}");
                }
            }
            Time("restore", () => PrunableParameters.Assign(parameters, original));
            Time("RandomizedMagnitude.Pruned", () => RandomizedMagnitude.Pruned(w, k, 2 + rep));
            var realLoss = new MaskedRealLoss(context, samples, batch);
            Time($"MaskedRealLoss.Sum on {first}", () => realLoss.Sum(mask, 0, first));
        }
        // Floors for the forward: one 16→16 3×3 conv on [first,16,28,28] as libtorch runs it (oneDNN off), with oneDNN on,
        // and as unfold + one matmul; and a plain matmul's rate.
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var input = randn(first, 16, 28, 28);
            var kernel = randn(16, 16, 3, 3);
            double flops = 2.0 * first * 784 * 16 * 144;
            for (int rep = 0; rep < repeats; rep++)
            {
                Time("conv 16→16 (oneDNN off)", () => nn.functional.conv2d(input, kernel, padding: [1, 1]));
                Time("conv 16→16 (oneDNN on)", () => Surgeon.Numerics.ConvolutionBackend.RunWithOneDnn(() => nn.functional.conv2d(input, kernel, padding: [1, 1])));
                Time("conv 16→16 as unfold + matmul", () => kernel.view(16, 144).matmul(nn.functional.unfold(input, 3, padding: 1)));
                var inputCl = input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
                var kernelCl = kernel.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
                Time("conv 16→16 channels-last (oneDNN off)", () => nn.functional.conv2d(inputCl, kernelCl, padding: [1, 1]));
                Time("conv 16→16 in chunks of 16 (oneDNN off)", () => cat(input.split(16).Select(c => nn.functional.conv2d(c, kernel, padding: [1, 1])).ToList(), 0));
                Time("conv 16→16 unfold+matmul chunks of 8", () => cat(input.split(8).Select(c => kernel.view(16, 144).matmul(nn.functional.unfold(c, 3, padding: 1))).ToList(), 0));
                var a = randn(16, 144);
                var b = randn(144, first * 784L);
                Time("matmul [16×144]·[144×n]", () => a.matmul(b));
            }
            Console.WriteLine($"(one conv is {flops / 1e9:F2} GFLOP)");
        }
        Console.WriteLine("| phase | wall ms per call (mean of " + repeats + ") | process CPU ms per call |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, (wall, cpu)) in phases) Console.WriteLine($"| {name} | {wall / repeats:F1} | {cpu / repeats:F1} |");
        Console.WriteLine($"load {Measure.LoadAverage()}");
    }

}
