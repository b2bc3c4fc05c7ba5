using Surgeon.Benchmarking;
using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// What <c>surgeon bench-model</c> measures, on untrained models (timing does not depend on the weights' values, only
/// on the layer sizes): MLPNet with 90 % of every layer zeroed (unstructured: theoretical speedup only), and VGG-13 at
/// width 0.25 on 1×28×28 keeping the first quarter of every filter group (a filter-pruned model: a real speedup).
/// One intra-op thread, so other jobs on the machine disturb the figures least.
/// </summary>
internal static class SpeedupBench
{
    public static void Run()
    {
        var bench = new SpeedupBenchmark { Runtimes = InferenceRuntimes.Known, BatchSizes = [1, 64], Runs = 20, Warmup = 3, Threads = 1 };

        var mlp = new ModelSpec("mlpnet", [1, 28, 28], 10);
        manual_seed(0);
        var dense = ModelRegistry.Create(mlp);
        manual_seed(0);
        var pruned = ModelRegistry.Create(mlp);
        using (no_grad())
        {
            foreach (var p in pruned.parameters())
                p.view(-1).narrow(0, 0, p.numel() * 9 / 10).zero_();
        }
        Print(bench.Run(BenchModel.Of("dense", "mlpnet", dense, mlp), BenchModel.Of("pruned", "mlpnet 90 % zero", pruned, mlp)));

        var vgg = new ModelSpec("vgg13", [1, 28, 28], 10, Width: 0.25);
        manual_seed(0);
        var denseVgg = ModelRegistry.Create(vgg);
        denseVgg.eval();
        var structured = (IStructuredModel)denseVgg;
        var keep = structured.FilterGroups.Where(g => g.Removable)
            .ToDictionary(g => g.Name, g => Enumerable.Range(0, Math.Max(g.MinKeep, g.Channels / 4)).Select(c => (long)c).ToArray());
        var shrunk = structured.Shrink(keep);
        Print(bench.Run(BenchModel.Of("dense", "vgg13 w0.25", denseVgg, vgg),
            BenchModel.Of("pruned", "vgg13 w0.25 quarter of the filters", shrunk, ((IStructuredModel)shrunk).Spec)));
    }

    private static void Print(SpeedupResult result)
    {
        Console.WriteLine(SpeedupTable.ToReport(result));
    }
}
