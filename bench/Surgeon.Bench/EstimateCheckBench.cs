using System.Globalization;
using System.Text.RegularExpressions;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Bench;

/// <summary>
/// The memory estimate that <c>prune</c> prints (<see cref="Curvature.CurvatureMemory"/>, through the method's Fisher
/// request exactly as the CLI makes it) against the measured peak resident set above the model and data (baseline read
/// after loading both, the GC run and free heap pages returned; VmHWM reset; the peak charged to the phase that reached
/// it), on the committed checkpoints at the settings of docs/cbs-scale.md: MLPNet digits N = 8,000 (wf at 0.9, cbs at
/// 0.98, λ = 1e-3, one block) and ResNet-20 Fashion (cbs at 0.8, paper set, a block per layer, N = 1,000, λ = 1e-5, the
/// paper's CBS-S budget). SURGEON_BENCH_CASES picks some by name (mlp-wf, mlp-cbs, resnet20-cbs; default all).
/// </summary>
internal static partial class EstimateCheckBench
{
    private sealed record Case(string Name, string Checkpoint, string Method, double Sparsity, PrunableSet Set, int BlockSize, int N, double Lambda);

    private static readonly Case[] Cases =
    [
        new("mlp-wf", "docs/cbs-mlpnet/mlpnet-digits.ckpt", "wf", 0.9, PrunableSet.Paper, 0, 8000, 1e-3),
        new("mlp-cbs", "docs/cbs-mlpnet/mlpnet-digits.ckpt", "cbs", 0.98, PrunableSet.Paper, 0, 8000, 1e-3),
        new("resnet20-cbs", "docs/cbs-resnet20/resnet20-fashion.ckpt", "cbs", 0.8, PrunableSet.Paper, -1, 1000, 1e-5),
    ];

    [GeneratedRegex(@"estimated peak memory ([\d,]+) MiB")]
    private static partial Regex EstimateLine();

    public static void Run()
    {
        var chosen = Environment.GetEnvironmentVariable("SURGEON_BENCH_CASES")?.Split(',') ?? Cases.Select(c => c.Name).ToArray();
        Console.WriteLine("| case | method | sparsity | seconds | baseline MiB | printed estimate MiB | measured MiB | measured / estimate | phase of the peak |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var c in Cases.Where(c => chosen.Contains(c.Name)))
        {
            var (model, info) = Checkpoint.Load(c.Checkpoint, TorchSharp.torch.CPU);
            var (train, _) = DatasetCatalog.Load(info.Dataset);
            var parameters = PrunableParameters.Discover(model, c.Set);
            var method = PruningMethods.Get(c.Method);
            var options = new PruningOptions { FisherSamples = c.N, Lambda = c.Lambda, BlockSize = c.BlockSize };
            var run = PhaseMemoryProgress.MeasurePrune(method, model, parameters, train, options, c.Sparsity, keptFraction: 1 - c.Sparsity);
            var top = run.Peaks.MaxBy(p => p.PeakMiB);
            var line = run.Messages.First(m => EstimateLine().IsMatch(m));
            double estimate = double.Parse(EstimateLine().Match(line).Groups[1].Value.Replace(",", ""), CultureInfo.InvariantCulture);
            Console.WriteLine($"| {c.Name} | {c.Method} | {c.Sparsity} | {run.Seconds:F1} | {run.BaselineMiB:N0} | {estimate:N0} | {top.PeakMiB:N0} | {top.PeakMiB / estimate:F2} | {top.Phase} |");
            Console.WriteLine($"    {line}");
            Console.WriteLine("    measured peak MiB by phase: " + string.Join("; ", run.Peaks.Select(p => $"{p.Phase} {p.PeakMiB:F0}")));
        }
    }
}
