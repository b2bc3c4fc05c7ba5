using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// WoodFisher and CBS at conv-net scale, on random inputs of the right shape: ResNet-20 (the paper's 18 inner convs,
/// one Fisher block per layer, N = 1,000) and a full-width MobileNet-V1 (every conv and linear weight, blocks of 10,000,
/// N = 64). Before each run the memory estimate (<see cref="CurvatureMemory"/>) is printed; after it, the measured peak
/// resident set above the baseline (VmHWM, reset before the run) and their ratio.
/// </summary>
internal static class ScaleBench
{
    private sealed record Setup(string Architecture, PrunableSet Set, int BlockSize, int N, double Lambda);

    private static readonly Setup ResNet20 = new("resnet20", PrunableSet.Paper, -1, 1000, 1e-5);
    private static readonly Setup MobileNet = new("mobilenet-v1", PrunableSet.All, 10_000, 64, 1e-5);

    public static void Run() => Run([ResNet20, MobileNet]);

    /// <summary>MobileNet-V1 alone (its runs are the ones whose per-weight bookkeeping matters).</summary>
    public static void RunMobileNet() => Run([MobileNet]);

    private static void Run(Setup[] setups)
    {
        // CBS-S's start and search are cut short here (4 starts scored on 256 samples, at most 10 iterations): they cost
        // time, not memory; the paper's values are 50 starts, 5,000 samples, 100 iterations.
        var cbsOptions = new { Candidates = 4, LossSamples = 256, Iterations = 10 };
        Console.WriteLine($"sparsity 0.7; CBS-S with {cbsOptions.Candidates} starts on {cbsOptions.LossSamples} samples, at most {cbsOptions.Iterations} iterations");
        Console.WriteLine($"{"model",-13} {"method",-6} {"N",5} {"d",10} {"blocks",6} {"seconds",8} {"baseline MiB",12} {"estimate MiB",12} {"measured MiB",12} {"measured/estimate",17}");
        foreach (var setup in setups)
        {
            var data = RandomImages(Math.Max(setup.N, cbsOptions.LossSamples) + 64, seed: 1);
            manual_seed(0);
            var model = ModelRegistry.Create(new ModelSpec(setup.Architecture, [3, 32, 32], 10, 1.0));
            model.eval();
            foreach (var method in new[] { "wf", "cbs" })
            {
                var parameters = PrunableParameters.Discover(model, setup.Set);
                var blocks = EmpiricalFisher.MakeBlocks(parameters, setup.BlockSize);
                var pruning = PruningMethods.Get(method);
                var options = new PruningOptions
                {
                    FisherSamples = setup.N,
                    Lambda = setup.Lambda,
                    BlockSize = setup.BlockSize,
                    CbsCandidates = cbsOptions.Candidates,
                    CbsLossSamples = cbsOptions.LossSamples,
                    CbsMaxIterations = cbsOptions.Iterations,
                    CbsRelativeEpsilon = true,
                };
                var estimate = CurvatureMemory.Estimate(model, parameters, [3, 32, 32], setup.N, 1, blocks,
                    pruning.FisherBookkeepingBytesPerWeight, pruning.LossEvaluationExamples(options));
                var run = PhaseMemoryProgress.MeasurePrune(pruning, model, parameters, data, options, 0.7, restoreModel: true);
                double measured = run.Peaks.Max(p => p.PeakMiB);
                double est = estimate.Peak / 1048576.0;
                Console.WriteLine($"{setup.Architecture,-13} {method,-6} {setup.N,5} {PrunableParameters.TotalCount(parameters),10:N0} {blocks.Count,6} {run.Seconds,8:F1} {run.BaselineMiB,12:F0} {est,12:F0} {measured,12:F0} {measured / est,17:F2}");
                Console.WriteLine($"    estimate MiB: G {estimate.G / 1048576.0:F0}, gradient batch {estimate.GradientBatch / 1048576.0:F0}, factors {estimate.Factors / 1048576.0:F0}, " +
                    $"factor work {estimate.FactorTransient / 1048576.0:F0}, CBS-U work {estimate.UpdateTransient / 1048576.0:F0}, bookkeeping {estimate.Bookkeeping / 1048576.0:F0}, loss forward {estimate.LossEvaluation / 1048576.0:F0}");
                Console.WriteLine("    measured peak MiB by phase: " + string.Join("; ", run.Peaks.Select(p => $"{p.Phase} {p.PeakMiB:F0}")));
            }
        }
    }

    private static ImageDataset RandomImages(int n, int seed)
    {
        var rng = new Random(seed);
        var labels = new byte[n];
        var pixels = new byte[n * 3 * 32 * 32];
        rng.NextBytes(pixels);
        for (int i = 0; i < n; i++) labels[i] = (byte)rng.Next(10);
        return new ImageDataset("random 3×32×32", pixels, labels, 3, 32, 32, 10, 0.5f, 0.25f);
    }
}
