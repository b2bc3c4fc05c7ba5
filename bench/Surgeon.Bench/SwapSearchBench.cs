using Surgeon.Compression;
using System.Diagnostics;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Selection;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// One CBS-S swap-search iteration as implemented (accepted swaps deferred: candidate u entries read from gathered
/// columns of G, u updated once per iteration) against the plain form that applies every accepted swap to all of u at
/// once (a full pass over G per swap), from the same start on MLPNet (trained 5 epochs on the digits), in the same
/// run; the two must accept the same swaps.
/// </summary>
internal static class SwapSearchBench
{
    public static void Run()
    {
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        manual_seed(0);
        var model = new MLPNet(784, 10);
        TrainingLoop.Train(new TrainOptions { Epochs = 5, Seed = 0 }, model, train, null);
        var parameters = PrunableParameters.Discover(model);
        var w = PrunableParameters.Flatten(parameters).to(ScalarType.Float64).data<double>().ToArray();
        foreach (int n in new[] { 1000, 8000 })
        {
            using var fisher = EmpiricalFisher.FromData(model, parameters, train, n, 1, 0, 1e-3, 0, CPU, Progress.NullProgress.Instance);
            foreach (double sparsity in new[] { 0.5, 0.9 })
            {
                var start = RandomizedMagnitude.Pruned(w, SparsityTarget.PruneCount(sparsity, w.Length), candidate: 1);
                var deferred = new SwapSearch(fisher, w, start);
                double epsilon = 1e-4 * deferred.F; // relative ε (--cbs-relative-epsilon), so this trained model accepts swaps
                var clock = Stopwatch.StartNew();
                int swaps = deferred.Iterate(epsilon, 10, 20);
                double fast = clock.Elapsed.TotalSeconds;
                var eager = new SwapSearch(fisher, w, start);
                clock.Restart();
                int eagerSwaps = eager.IterateApplyingEachSwap(epsilon, 10, 20);
                double slow = clock.Elapsed.TotalSeconds;
                bool same = swaps == eagerSwaps && deferred.Pruned.SequenceEqual(eager.Pruned);
                Console.WriteLine($"N = {n,5:N0}, sparsity {sparsity:0.0}: {swaps,4} swaps; deferred {fast,7:F2} s, every swap applied {slow,7:F2} s, " +
                    $"{slow / fast,6:F1}× faster; same swaps: {same}");
            }
        }
    }
}
