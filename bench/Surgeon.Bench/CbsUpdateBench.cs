using Surgeon.Compression;
using System.Diagnostics;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Selection;
using Surgeon.Training;
using Surgeon.Update;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// CBS-U through the kept set (the smaller of the N×N and |U|×|U| systems) against the naive dense formula
/// δw = −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P (F_λ⁻¹E_P as d×|P| columns, then a |P|×|P| solve), measured in the same run on
/// MLPNet with N = 1,000 at a sparsity small enough that the naive d×|P| matrix fits (0.2: |P| = 6,472).
/// </summary>
internal static class CbsUpdateBench
{
    public static void Run()
    {
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        manual_seed(0);
        var model = new MLPNet(784, 10);
        TrainingLoop.Train(new TrainOptions { Epochs = 5, Seed = 0 }, model, train, null);
        var parameters = PrunableParameters.Discover(model);
        using var fisher = EmpiricalFisher.FromData(model, parameters, train, 1000, 1, 0, 1e-3, 0, CPU, Progress.NullProgress.Instance);
        var w = PrunableParameters.Flatten(parameters).to(ScalarType.Float64);
        foreach (double sparsity in new[] { 0.2, 0.5, 0.9 })
        {
            using var scope = NewDisposeScope();
            var keep = TopK.PruneLowest(w.abs(), SparsityTarget.PruneCount(sparsity, w.numel()));
            var p = keep.logical_not().nonzero().flatten();
            var clock = Stopwatch.StartNew();
            var fast = CbsUpdate.Apply(fisher, w, keep);
            double fastSeconds = clock.Elapsed.TotalSeconds;
            string line = $"sparsity {sparsity:0.0} (|P| = {p.numel():N0}, |U| = {w.numel() - p.numel():N0}, N = {fisher.N:N0}): kept-set CBS-U {fastSeconds,7:F2} s";
            if (p.numel() <= 8000)
            {
                clock.Restart();
                var naive = Naive(fisher, w, p);
                double naiveSeconds = clock.Elapsed.TotalSeconds;
                double err = (naive - fast).norm().item<double>() / naive.norm().item<double>();
                line += $", naive |P|×|P| {naiveSeconds,7:F2} s, ratio naive/kept-set {naiveSeconds / fastSeconds:F1}×, relative difference {err:E1}";
            }
            else
            {
                line += $", naive skipped (F⁻¹E_P would be {w.numel() * p.numel() * 8 / 1e9:F1} GB)";
            }
            Console.WriteLine(line);
        }
    }

    private static Tensor Naive(EmpiricalFisher fisher, Tensor w, Tensor p)
    {
        using var scope = NewDisposeScope();
        long d = w.numel(), k = p.numel();
        var ep = zeros(d, k, ScalarType.Float64);
        ep.index_put_(ones(k, ScalarType.Float64), p, arange(k));
        var finvEp = fisher.InverseTimes(ep).to(ScalarType.Float64);        // d×|P|
        var m = finvEp.index_select(0, p);                                   // E_PᵀF⁻¹E_P, |P|×|P|
        var x = linalg.solve(m, w.index_select(0, p).unsqueeze(1));
        var result = w - finvEp.matmul(x).squeeze(1);
        result.index_fill_(0, p, Numerics.HeldScalars.Of(0));
        return result.MoveToOuterDisposeScope();
    }
}
