using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Numerics;
using Surgeon.Scoring;
using Surgeon.Selection;
using Surgeon.Training;
using Surgeon.Update;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// WoodFisher's memory beside G (saliency w²/(2[F_λ⁻¹]_qq), the global mask, the OBS update) on the committed MLPNet of
/// docs/cbs-mlpnet (d = 32,360, one Fisher block, λ = 1e-3) with N per-sample gradients of the embedded digits (default
/// 8,000, SURGEON_BENCH_N; sparsity SURGEON_BENCH_SPARSITY, default 0.9): the current code (Woodbury factor formed and
/// factorised in place, 64 MiB column chunks) against the previous implementation kept here as it was (float32 Gram,
/// its float64 copy and a separate LAPACK factor all alive at once; N×4,096 float64 column chunks). Printed: the peak
/// resident memory above the baseline with G already built (VmHWM reset, free heap pages returned first) in MiB and as a
/// multiple of G's size, the seconds, how many mask entries differ, and the largest difference of the updated weights.
/// </summary>
internal static class WoodFisherMemoryBench
{
    private const long PreviousChunk = 4096;

    public static void Run()
    {
        int n = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_N"), out int v) ? v : 8000;
        double sparsity = double.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_SPARSITY"),
            System.Globalization.CultureInfo.InvariantCulture, out double s) ? s : 0.9;
        var (model, _) = Checkpoint.Load("docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var parameters = PrunableParameters.Discover(model);
        var context = new PruningContext { Model = model, Parameters = parameters, Options = new PruningOptions { Lambda = 1e-3 } };
        using var g = EmpiricalFisher.GradientMatrix(model, parameters, train, Math.Min(n, train.Count), 1, 0, CPU,
            Progress.NullProgress.Instance);
        long d = g.shape[1];
        var blocks = EmpiricalFisher.MakeBlocks(parameters, 0);
        double gMiB = g.numel() * 4 / 1048576.0;
        long pruneCount = SparsityTarget.PruneCount(sparsity, d);
        Console.WriteLine($"MLPNet digits (d = {d:N0}), N = {g.shape[0]:N0}, G = {gMiB:N0} MiB, {blocks.Count} block(s), sparsity {sparsity}");

        Tensor? currentKeep = null, previousKeep = null;
        if (Environment.GetEnvironmentVariable("SURGEON_BENCH_PART") == "phases")
        {
            Phases(context, g, blocks, TopK.PruneLowest(PrunableParameters.Flatten(parameters).abs(), pruneCount));
            return;
        }
        var (current, currentMiB, currentSeconds) = KeptSetMemoryBench.Peak(() =>
        {
            // A view of G: the Fisher disposes its handle, not the storage the bench keeps.
            using var fisher = new EmpiricalFisher(g.narrow(0, 0, g.shape[0]), context.Options.Lambda, blocks);
            var keep = TopK.PruneLowest(WoodFisherScore.Saliency(context, fisher), pruneCount);
            currentKeep = keep;
            return Updated(context, ObsUpdate.Delta(context, fisher, keep), keep);
        });
        var (previous, previousMiB, previousSeconds) = KeptSetMemoryBench.Peak(() =>
        {
            var (keep, delta) = Previous(context, g, context.Options.Lambda, blocks, pruneCount);
            previousKeep = keep;
            return Updated(context, delta, keep);
        });
        Phases(context, g, blocks, currentKeep!);
        long maskDiff = currentKeep!.ne(previousKeep!).sum().item<long>();
        double weightDiff = current.sub(previous).abs().max().item<double>();
        Console.WriteLine("| path | peak MiB above G (× G) | s |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| current (factor in place) | {currentMiB:N0} ({currentMiB / gMiB:F2}) | {currentSeconds:F1} |");
        Console.WriteLine($"| previous | {previousMiB:N0} ({previousMiB / gMiB:F2}) | {previousSeconds:F1} |");
        Console.WriteLine($"mask entries that differ: {maskDiff} of {d:N0}; max |Δw| between the updated weights: {weightDiff:E1}");
    }

    /// <summary>Where the current path's peak is: the factor (built by a product with a zero vector), diag(F_λ⁻¹) with
    /// the factor held, the OBS update.</summary>
    private static void Phases(PruningContext context, Tensor g, IReadOnlyList<FisherBlock> blocks, Tensor keep)
    {
        if (blocks.Count == 1 && g.shape[1] > g.shape[0])
        {
            var (gram, gramMiB, gramSeconds) = KeptSetMemoryBench.Peak(() => EmpiricalFisher.Gram(g));
            var (_, inPlaceMiB, inPlaceSeconds) = KeptSetMemoryBench.Peak(() =>
            {
                gram.diagonal().add_(HeldScalars.Of(g.shape[0] * context.Options.Lambda), HeldScalars.One);
                DampedCholesky.FactorInPlace(gram, context.Options.Lambda, (int)g.shape[0], woodbury: true, "bench");
                return gram;
            });
            gram.Dispose();
            Console.WriteLine($"the Woodbury system alone, peak MiB above G (s): Gram {gramMiB:N0} ({gramSeconds:F1}), in-place factor with the system held {inPlaceMiB:N0} ({inPlaceSeconds:F1})");
        }
        using var fisher = new EmpiricalFisher(g.narrow(0, 0, g.shape[0]), context.Options.Lambda, blocks);
        var (_, factorMiB, factorSeconds) = KeptSetMemoryBench.Peak(() => fisher.InverseTimes(zeros([fisher.D], ScalarType.Float64)));
        var (_, diagonalMiB, diagonalSeconds) = KeptSetMemoryBench.Peak(() => fisher.InverseDiagonal());
        var (_, updateMiB, updateSeconds) = KeptSetMemoryBench.Peak(() => ObsUpdate.Delta(context, fisher, keep));
        Console.WriteLine($"current by phase, peak MiB above G (s): factor {factorMiB:N0} ({factorSeconds:F1}), diag(F_λ⁻¹) with the factor held " +
            $"{diagonalMiB:N0} ({diagonalSeconds:F1}), OBS update {updateMiB:N0} ({updateSeconds:F1})");
    }

    /// <summary>w + δw with the pruned weights zeroed, float64.</summary>
    private static Tensor Updated(PruningContext context, Tensor delta, Tensor keep)
    {
        var w = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64);
        return w.add_(delta, HeldScalars.One).mul_(keep.to(ScalarType.Float64));
    }

    /// <summary>The WoodFisher path before the in-place factor (commit f212abc): EmpiricalFisher.Factor,
    /// InverseDiagonal and InverseTimes as they were, for one-block Woodbury and direct systems.</summary>
    private static (Tensor Keep, Tensor Delta) Previous(PruningContext context, Tensor g, double lambda,
        IReadOnlyList<FisherBlock> blocks, long pruneCount)
    {
        using var scope = NewDisposeScope();
        int n = (int)g.shape[0];
        long d = g.shape[1];
        var factors = new Tensor[blocks.Count];
        var inverseDiagonal = empty([d], ScalarType.Float64);
        for (int i = 0; i < blocks.Count; i++)
        {
            var b = blocks[i];
            var gb = g.narrow(1, b.Offset, b.Length);
            bool woodbury = b.Length > n;
            using (var factorScope = NewDisposeScope())
            {
                Tensor matrix;
                if (woodbury)
                {
                    matrix = gb.matmul(gb.t()).to(ScalarType.Float64);
                    matrix.diagonal().add_(HeldScalars.Of(n * lambda), HeldScalars.One);
                }
                else
                {
                    matrix = gb.t().matmul(gb).to(ScalarType.Float64).div_(HeldScalars.Of(n));
                    matrix.diagonal().add_(HeldScalars.Of(lambda), HeldScalars.One);
                }
                factors[i] = DampedCholesky.Factor(matrix, lambda, n, woodbury, "previous").MoveToOuterDisposeScope();
            }
            if (woodbury)
            {
                for (long c = 0; c < b.Length; c += PreviousChunk)
                {
                    using var inner = NewDisposeScope();
                    long len = Math.Min(PreviousChunk, b.Length - c);
                    var gc = gb.narrow(1, c, len).to(ScalarType.Float64);
                    var w = linalg.solve_triangular(factors[i], gc, upper: false);
                    inverseDiagonal.narrow(0, b.Offset + c, len).copy_(w.Squared().sum(dim: 0).neg_().add_(HeldScalars.One, HeldScalars.One).div_(HeldScalars.Of(lambda)));
                }
            }
            else
            {
                using var inner = NewDisposeScope();
                inverseDiagonal.narrow(0, b.Offset, b.Length).copy_(cholesky_inverse(factors[i]).diagonal());
            }
        }
        // The score went through G's dtype (float32) and back, as the Fisher returned it.
        inverseDiagonal = inverseDiagonal.to(g.dtype).to(ScalarType.Float64);
        var weights = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64);
        var keep = TopK.PruneLowest(weights.Squared().div_(inverseDiagonal.mul(HeldScalars.Of(2))), pruneCount);
        // InverseTimes took its argument in G's dtype
        var coefficients = where(keep.logical_not(), weights / inverseDiagonal, zeros_like(weights)).to(g.dtype).to(ScalarType.Float64);
        var result = empty_like(coefficients);
        for (int i = 0; i < blocks.Count; i++)
        {
            using var inner = NewDisposeScope();
            var b = blocks[i];
            var gb = g.narrow(1, b.Offset, b.Length);
            var vb = coefficients.narrow(0, b.Offset, b.Length).unsqueeze(1);
            Tensor rb;
            if (b.Length > n)
            {
                var gv = zeros([n, 1], ScalarType.Float64);
                for (long c = 0; c < b.Length; c += PreviousChunk)
                {
                    using var chunkScope = NewDisposeScope();
                    long len = Math.Min(PreviousChunk, b.Length - c);
                    gv.add_(gb.narrow(1, c, len).to(ScalarType.Float64).matmul(vb.narrow(0, c, len)), HeldScalars.One);
                }
                var z = cholesky_solve(gv, factors[i]);
                rb = vb.clone();
                for (long c = 0; c < b.Length; c += PreviousChunk)
                {
                    using var chunkScope = NewDisposeScope();
                    long len = Math.Min(PreviousChunk, b.Length - c);
                    rb.narrow(0, c, len).add_(gb.narrow(1, c, len).to(ScalarType.Float64).t().matmul(z), HeldScalars.Of(-1));
                }
                rb.div_(HeldScalars.Of(lambda));
            }
            else
            {
                rb = cholesky_solve(vb, factors[i]);
            }
            result.narrow(0, b.Offset, b.Length).copy_(rb.squeeze(1));
        }
        var delta = result.to(g.dtype).to(ScalarType.Float64).mul_(HeldScalars.Of(-context.Options.UpdateScale));
        return (keep.MoveToOuterDisposeScope(), delta.MoveToOuterDisposeScope());
    }
}
