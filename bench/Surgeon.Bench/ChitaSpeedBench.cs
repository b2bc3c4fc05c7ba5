using System.Diagnostics;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Progress;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// One-stage CHITA against Surgeon's CBS at equal N, in one process: the committed digits MLPNet of docs/cbs-mlpnet
/// (d = 32,360, one Fisher block), λ = 1e-3, N = 1,000 per-sample gradients (SURGEON_BENCH_N), seed 0, sparsities
/// 0.9, 0.95 and 0.98 (SURGEON_BENCH_SPARSITIES, comma-separated). Each point is a whole one-shot prune from the dense
/// checkpoint with a fresh context (the per-sample gradients are computed inside every point, as in a sweep point).
/// Printed per point: seconds, test accuracy and the chita/cbs and chita-bso/cbs time ratios, then CHITA's own
/// account of its time (from its info line).
/// </summary>
internal static class ChitaSpeedBench
{
    public static void Run()
    {
        int n = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_N"), out int v) ? v : 1000;
        var sparsities = (Environment.GetEnvironmentVariable("SURGEON_BENCH_SPARSITIES") ?? "0.9,0.95,0.98")
            .Split(',').Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        string[] methods = ["cbs", "chita", "chita-bso"];
        var (model, _) = Checkpoint.Load("docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
        Console.WriteLine($"digits MLPNet, N = {n:N0}, λ = 1e-3, seed 0, OMP threads {get_num_threads()}; dense accuracy {Evaluator.Evaluate(model, test).Accuracy:P2}");
        Console.WriteLine("| sparsity | cbs s | chita s | chita-bso s | chita / cbs | chita-bso / cbs | accuracy cbs / chita / chita-bso |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        using var snapshot = new ModelSnapshot(model);
        var notes = new List<string>();
        foreach (double sparsity in sparsities)
        {
            var seconds = new double[methods.Length];
            var accuracy = new double[methods.Length];
            for (int m = 0; m < methods.Length; m++)
            {
                snapshot.Restore();
                GC.Collect();
                var progress = new RecordingProgress();
                var ctx = new PruningContext
                {
                    Model = model,
                    Parameters = PrunableParameters.Discover(model),
                    TrainData = train,
                    Seed = 0,
                    Progress = progress,
                    Options = new PruningOptions { FisherSamples = n, Lambda = 1e-3 },
                };
                var clock = Stopwatch.StartNew();
                using (PruningMethods.Get(methods[m]).Prune(ctx, sparsity)) { }
                seconds[m] = clock.Elapsed.TotalSeconds;
                foreach (var cached in ctx.Cache.Values.OfType<IDisposable>()) cached.Dispose();
                accuracy[m] = Evaluator.Evaluate(model, test).Accuracy;
                notes.AddRange(progress.Messages.Where(x => x.StartsWith("CHITA", StringComparison.Ordinal))
                    .Select(x => $"{methods[m]} at {sparsity}: {x}"));
            }
            Console.WriteLine($"| {sparsity} | {seconds[0]:F2} | {seconds[1]:F2} | {seconds[2]:F2} | {seconds[1] / seconds[0]:F2} | " +
                $"{seconds[2] / seconds[0]:F2} | {accuracy[0]:P2} / {accuracy[1]:P2} / {accuracy[2]:P2} |");
        }
        foreach (var note in notes) Console.WriteLine(note);
    }
}
