using Surgeon.Compression;
using System.Diagnostics;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Numerics;
using Surgeon.Pruning;
using Surgeon.Selection;
using Surgeon.Training;
using Surgeon.Update;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// CBS-U through the kept set (the smaller of the N×N and |U|×|U| systems, <see cref="CbsUpdate.Apply"/>) against the
/// formula itself, δw = −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P, computed with nothing of EmpiricalFisher but its G: F_λ = λI + GᵀG/N
/// formed densely in float64, Cholesky-factored, F_λ⁻¹E_P by Cholesky solves, then a Cholesky solve of the |P|×|P|
/// system; no entry is forced to 0. Measured in the same run on MLPNet at width 0.25 (784-10-5-10, d = 7,940 weights,
/// so the dense d×d matrix is 0.5 GB; at full width it would be 8.4 GB) trained 5 epochs on the embedded digits, N = 1,000.
/// </summary>
internal static class CbsUpdateBench
{
    public static void Run()
    {
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        manual_seed(0);
        var model = new MLPNet(784, 10, width: 0.25);
        TrainingLoop.Train(new TrainOptions { Epochs = 5, Seed = 0 }, model, train, null);
        var parameters = PrunableParameters.Discover(model);
        using var fisher = EmpiricalFisher.FromData(model, parameters, train, 1000, 1, 0, 1e-3, 0, CPU, Progress.NullProgress.Instance);
        var w = PrunableParameters.Flatten(parameters).to(ScalarType.Float64);
        // The same G in float64: CBS-U forms its Gram products in G's dtype (float32 in real use), so this shows how
        // much of the difference from the float64 dense formula is that rounding and how much the method.
        using var fisher64 = new EmpiricalFisher(fisher.G.to(ScalarType.Float64), fisher.Lambda, fisher.Blocks);
        Console.WriteLine($"MLPNet 784-10-5-10 (d = {w.numel():N0}), N = {fisher.N:N0}, λ = {fisher.Lambda:G3}, {fisher.Blocks.Count} Fisher block(s)");
        foreach (double sparsity in new[] { 0.2, 0.5, 0.9 })
        {
            using var scope = NewDisposeScope();
            var keep = TopK.PruneLowest(w.abs(), SparsityTarget.PruneCount(sparsity, w.numel()));
            var p = keep.logical_not().nonzero().flatten();
            var clock = Stopwatch.StartNew();
            var fast = CbsUpdate.Apply(fisher, w, keep);
            double fastSeconds = clock.Elapsed.TotalSeconds;

            clock.Restart();
            var dense = DenseFormula(fisher.G, fisher.Lambda, fisher.Blocks, w, p);
            double denseSeconds = clock.Elapsed.TotalSeconds;

            double maxDiff = (fast - dense).abs().max().item<double>();
            double relative = (fast - dense).norm().item<double>() / dense.norm().item<double>();
            var fast64 = CbsUpdate.Apply(fisher64, w, keep);
            double maxDiff64 = (fast64 - dense).abs().max().item<double>();
            double residual = dense.index_select(0, p).abs().max().item<double>(); // the formula zeroes w_P: its own rounding
            Console.WriteLine($"sparsity {sparsity:0.0} (|P| = {p.numel():N0}, |U| = {w.numel() - p.numel():N0}): kept-set CBS-U {fastSeconds,6:F2} s, " +
                $"dense F_λ formula {denseSeconds,6:F2} s, ratio dense/kept-set {denseSeconds / fastSeconds:F1}×; " +
                $"max |Δw| {maxDiff:E1} (max |w| {w.abs().max().item<double>():F3}), relative {relative:E1}; with G in float64 max |Δw| {maxDiff64:E1}; " +
                $"dense formula's max |w_P + δw_P| {residual:E1}");
        }
    }

    /// <summary>w + δw with δw = −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P, F_λ the dense block-diagonal λI + GᵀG/N in float64.</summary>
    private static Tensor DenseFormula(Tensor g, double lambda, IReadOnlyList<FisherBlock> blocks, Tensor w, Tensor p)
    {
        using var scope = NewDisposeScope();
        long n = g.shape[0], d = w.numel(), k = p.numel();
        var g64 = g.to(ScalarType.Float64);
        var f = zeros(d, d, ScalarType.Float64);
        foreach (var b in blocks)
        {
            var gb = g64.narrow(1, b.Offset, b.Length);
            f.narrow(0, b.Offset, b.Length).narrow(1, b.Offset, b.Length).copy_(gb.T.matmul(gb).div_(HeldScalars.Of(n)));
        }
        f.diagonal().add_(HeldScalars.Of(lambda), HeldScalars.One);
        var l = linalg.cholesky(f);
        f.Dispose();
        var ep = zeros(d, k, ScalarType.Float64);
        ep.index_put_(ones(k, ScalarType.Float64), p, arange(k));
        var finvEp = cholesky_solve(ep, l);                                   // F_λ⁻¹E_P, d×|P|
        ep.Dispose();
        l.Dispose();
        var m = finvEp.index_select(0, p);                                    // E_PᵀF_λ⁻¹E_P, |P|×|P|, SPD
        var y = cholesky_solve(w.index_select(0, p).unsqueeze(1), linalg.cholesky(m));
        var result = w - finvEp.matmul(y).squeeze(1);
        return result.MoveToOuterDisposeScope();
    }
}
