using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// Native-memory soak: 200 prune/evaluate cycles on MLPNet (each cycle: restore the dense weights, prune with one of
/// mp, wf, cbs at N = 256 with a fresh context, evaluate), printing the resident set at the start, middle and end.
/// A leak of native tensors shows up as steady growth; the goal is less than 10 % growth from the start. The start is
/// taken after 10 warm-up cycles: the first runs of each method grow the allocators' pools (about +70 MiB, seen once and
/// then flat), which is not a leak. Each reading is taken twice: as the process holds it, and after glibc's malloc_trim
/// has returned the heap's free pages (memory the allocator keeps for reuse is not held by any tensor); the count of live
/// TorchSharp tensors is printed beside them, as the direct sign of a leak.
/// </summary>
internal static class SoakBench
{
    public static void Run()
    {
        const int warmup = 10, cycles = 200;
        var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
        manual_seed(0);
        var model = new MLPNet(784, 10);
        TrainingLoop.Train(new TrainOptions { Epochs = 2, Seed = 0 }, model, train, null);
        using var snapshot = new ModelSnapshot(model);
        string[] methods = ["mp", "wf", "cbs"];
        var options = new PruningOptions { FisherSamples = 256, Lambda = 1e-3, CbsMaxIterations = 5 };
        double start = 0, middle = 0, end = 0, startTrimmed = 0, middleTrimmed = 0, endTrimmed = 0;
        double[] sparsities = [0.5, 0.9, 0.95];
        for (int i = 0; i <= warmup + cycles; i++)
        {
            snapshot.Restore();
            var context = new PruningContext
            {
                Model = model,
                Parameters = PrunableParameters.Discover(model),
                TrainData = train,
                Seed = i,
                Options = options,
            };
            using (PruningMethods.Get(methods[i % methods.Length]).Prune(context, sparsities[i % sparsities.Length])) { }
            foreach (var cached in context.Cache.Values.OfType<IDisposable>()) cached.Dispose();
            Evaluator.Evaluate(model, test);
            if (i == 0 || i == warmup || i == warmup + cycles / 2 || i == warmup + cycles)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                double rss = Measure.CurrentRssMiB();
                Measure.TrimNativeHeap();
                double trimmed = Measure.CurrentRssMiB();
                if (i == warmup) (start, startTrimmed) = (rss, trimmed);
                else if (i == warmup + cycles / 2) (middle, middleTrimmed) = (rss, trimmed);
                else if (i == warmup + cycles) (end, endTrimmed) = (rss, trimmed);
                string what = i == 0 ? "first cycle" : i == warmup ? "warm-up done (start)" : i == warmup + cycles ? "end" : "middle";
                Console.WriteLine($"after cycle {i,3} ({what}): resident {rss,7:F1} MiB; after returning the heap's free pages {trimmed,7:F1} MiB; " +
                    $"live tensors {Tensor.TotalCount}");
            }
        }
        Console.WriteLine($"growth start→middle {100 * (middle / start - 1):F1} %, start→end {100 * (end / start - 1):F1} % (goal < 10 %)");
        Console.WriteLine($"after returning free heap pages: start→middle {100 * (middleTrimmed / startTrimmed - 1):F1} %, start→end {100 * (endTrimmed / startTrimmed - 1):F1} %");
    }
}
