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
/// then flat), which is not a leak.
/// </summary>
internal static class SoakBench
{
    public static void Run()
    {
        const int warmup = 10, cycles = 200;
        var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
        manual_seed(0);
        var model = new MLPNet(784, 10);
        new Trainer(new TrainOptions { Epochs = 2, Seed = 0 }).Train(model, train, null);
        using var snapshot = new ModelSnapshot(model);
        string[] methods = ["mp", "wf", "cbs"];
        var options = new PruningOptions { FisherSamples = 256, Lambda = 1e-3, CbsMaxIterations = 5 };
        double start = 0, middle = 0;
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
                if (i == warmup) start = rss;
                else if (i == warmup + cycles / 2) middle = rss;
                string what = i == 0 ? "first cycle" : i == warmup ? "warm-up done (start)" : i == warmup + cycles ? "end" : "middle";
                Console.WriteLine($"after cycle {i,3} ({what}): resident {rss,7:F1} MiB");
            }
        }
        double end = Measure.CurrentRssMiB();
        Console.WriteLine($"growth start→middle {100 * (middle / start - 1):F1} %, start→end {100 * (end / start - 1):F1} % (goal < 10 %)");
    }
}
