using System.Diagnostics;
using System.Globalization;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Compression;
using Surgeon.Selection;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// Network purification and unused-path removal (P-RM, arXiv:1905.00136) on top of pruned checkpoints: for each
/// checkpoint in SURGEON_PRM_CHECKPOINTS (separated by ':'; default runs/admm/lenet5-gmp.ckpt) the masks are its zeros,
/// and each stage prints the weights left (nonzero Linear/Conv weights), all nonzero parameters, the compression ratio
/// of weights against the dense model of the same width, the filter-group sizes, the test accuracy and the time.
/// Stages: as pruned; + unused-path removal (exact); and for each τ in SURGEON_PRM_TAUS (default 0.05,0.1,0.2):
/// + purification of filters then columns at τ, + unused-path removal. No retraining in between.
/// </summary>
internal static class PrmBench
{
    public static void Run()
    {
        var paths = (Environment.GetEnvironmentVariable("SURGEON_PRM_CHECKPOINTS") ?? "runs/admm/lenet5-gmp.ckpt")
            .Split(':', StringSplitOptions.RemoveEmptyEntries);
        var taus = (Environment.GetEnvironmentVariable("SURGEON_PRM_TAUS") ?? "0.05,0.1,0.2")
            .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToList();
        foreach (string path in paths)
        {
            if (!File.Exists(path))
            {
                Console.WriteLine($"{path}: not found (set SURGEON_PRM_CHECKPOINTS; scripts/admm-first-look.sh makes the default one)");
                continue;
            }
            var (model, info) = Checkpoint.Load(path);
            var (_, test) = DatasetCatalog.Load(info.Dataset);
            using var dense = ModelRegistry.Create(info.Spec with { Channels = null });
            long denseWeights = PrunableParameters.TotalCount(PrunableParameters.Discover(dense));
            Console.WriteLine($"{path}: {info.Architecture} width {info.Width:G4} on {info.Dataset}; dense model {denseWeights:N0} weights");
            Console.WriteLine($"{"stage",-34} {"weights",9} {"params≠0",9} {"ratio",8} {"groups",-22} {"accuracy",9} {"seconds",8}");
            Row("as pruned", model, test, denseWeights, 0);

            var clock = Stopwatch.StartNew();
            var removed = UnusedPathRemoval.Run(model);
            Row($"+ unused-path removal ({removed.Rounds} rounds)", removed.Model, test, denseWeights, clock.Elapsed.TotalSeconds);
            removed.Model.Dispose();

            foreach (double tau in taus)
            {
                using var copy = ((IStructuredModel)model).Shrink(new Dictionary<string, long[]>());
                clock.Restart();
                var parameters = PrunableParameters.Discover(copy);
                using var keep = PrunableParameters.Flatten(parameters).ne(zeros(1));
                using var masks = new MaskSet(parameters, keep);
                var (purified, _) = NetworkPurification.Purify(masks, tau, PurifiedGroups.Filters, PurifiedGroups.Columns);
                purified.Dispose();
                Row($"+ purification τ = {tau:G3}", copy, test, denseWeights, clock.Elapsed.TotalSeconds);
                clock.Restart();
                var after = UnusedPathRemoval.Run(copy);
                Row($"  + unused-path removal ({after.Rounds} rounds)", after.Model, test, denseWeights, clock.Elapsed.TotalSeconds);
                after.Model.Dispose();
            }
            model.Dispose();
            Console.WriteLine();
        }
    }

    private static void Row(string stage, nn.Module<Tensor, Tensor> model, ImageDataset test, long denseWeights, double seconds)
    {
        long weights = PrunableParameters.Discover(model).Sum(p => p.Weight.count_nonzero().item<long>());
        long nonzero = model.parameters().Sum(p => p.count_nonzero().item<long>());
        string groups = model is IStructuredModel s ? string.Join('/', s.FilterGroups.Select(g => g.Channels)) : "";
        double accuracy = Evaluator.Evaluate(model, test).Accuracy;
        Console.WriteLine($"{stage,-34} {weights,9:N0} {nonzero,9:N0} {(double)denseWeights / weights,7:F1}× {groups,-22} {accuracy,9:P2} {seconds,8:F2}");
    }
}
