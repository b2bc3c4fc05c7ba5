using Surgeon.Compression;
using System.Diagnostics;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// Wall time and peak memory of one-shot pruning of MLPNet on the embedded digits, per method and Fisher size N.
/// Peak memory is the process's peak resident set (VmHWM), reset before each run through /proc/self/clear_refs.
/// </summary>
internal static class PruneBench
{
    public static void WoodFisher() => Run(["wf"]);

    // CBS-S alone, the CBS-U update alone (after magnitude selection) and both together.
    public static void Cbs() => Run(["cbs-s", "mp+cbs-u", "cbs"]);

    private static void Run(string[] methods)
    {
        // N = 10,000 needs more training samples than the 8,000 embedded digits: use Fashion-MNIST when installed.
        bool fashion = Directory.Exists(DatasetCatalog.FashionMnistFolder);
        var (train, test) = DatasetCatalog.Load(fashion ? DatasetCatalog.FashionMnist : DatasetCatalog.Digits);
        int[] samples = [1000, Math.Min(10_000, train.Count)];
        manual_seed(0);
        var model = new MLPNet(784, 10);
        TrainingLoop.Train(new TrainOptions { Epochs = fashion ? 5 : 20, Seed = 0 }, model, train, null);
        double dense = Evaluator.Evaluate(model, test).Accuracy;
        Console.WriteLine($"MLPNet trained on {train.Name}: dense accuracy {dense:P2}; sparsity 0.9, λ = 1e-3");
        Console.WriteLine($"{"method",-8} {"N",6} {"seconds",9} {"peak RSS MiB",13} {"baseline MiB",13} {"accuracy",9}");
        using var snapshot = new ModelSnapshot(model);
        foreach (var method in methods)
        {
            foreach (int n in samples)
            {
                snapshot.Restore();
                GC.Collect();
                double baseline = Measure.CurrentRssMiB();
                Measure.ResetPeakRss();
                var ctx = new PruningContext
                {
                    Model = model,
                    Parameters = PrunableParameters.Discover(model),
                    TrainData = train,
                    Seed = 0,
                    Options = new PruningOptions { FisherSamples = n, Lambda = 1e-3 },
                };
                var clock = Stopwatch.StartNew();
                using (PruningMethods.Get(method).Prune(ctx, 0.9)) { }
                double seconds = clock.Elapsed.TotalSeconds;
                double peak = Measure.PeakRssMiB();
                double accuracy = Evaluator.Evaluate(model, test).Accuracy;
                foreach (var cached in ctx.Cache.Values.OfType<IDisposable>()) cached.Dispose();
                Console.WriteLine($"{method,-8} {n,6} {seconds,9:F2} {peak,13:F0} {baseline,13:F0} {accuracy,9:P2}");
            }
        }
    }
}
