using Surgeon.Compression;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// The memory that pruning with the empirical Fisher needs on top of what the process already holds, phase by phase:
/// G (N×d float32) is written batch by batch while the per-sample gradients are computed, then stays; the factors of the
/// Fisher blocks are cached beside it; CBS-U works on one block at a time. The peak is G plus the largest phase.
/// </summary>
/// <param name="G">The per-sample gradients, 4·N·d.</param>
/// <param name="GradientBatch">One batch of per-sample gradients: its B×d rows, the activations the forward keeps for B
/// examples (the outputs of every layer, held once by autograd and once by the hooks) and the largest layer's unfolded
/// input and product.</param>
/// <param name="Factors">The cached float64 Cholesky factors, 8·min(N, L)² per block (only for steps that use them:
/// WoodFisher's score, the OBS update).</param>
/// <param name="FactorTransient">Building a factor in place over its float64 system (one float32 product of at most
/// 32 MiB of rows and the blocked factorisation's panel), or diag(F_λ⁻¹): three 64 MiB float64 column chunks for a
/// Woodbury block, the inverse and a copy of the factor (16·L²) for a direct one; the largest over the blocks.</param>
/// <param name="UpdateTransient">The kept-set solve (CBS-U, CHITA's backsolve) on the largest block: its Gram matrix of
/// s = min(N, |U|) rows in float32 beside its float64 system, which the factor overwrites, 12·s²; or the factor with one
/// column chunk of G (<see cref="KeptColumns"/>), whichever is larger. |U| comes from the run's lowest sparsity. Plus,
/// for CHITA (<see cref="FisherWork.SupportColumns"/>), its support's columns: N·L/4 float32s of the largest block, at most
/// <see cref="KeptColumns.ChunkBytes"/>, and its active set's columns: 3N·L/5 float32s, at most as much.</param>
/// <param name="Bookkeeping">The method's per-weight arrays beside the Fisher (<see cref="IUsesFisher.BookkeepingBytesPerWeight"/>
/// times d); they live from the selection to the end of the update, so they add to the factor and update work.</param>
/// <param name="LossEvaluation">A forward pass of the method's real-loss batch (CBS-S) in eval mode: every layer's output
/// for that many examples, as the forward holds them until it returns; for a model with convolutions (run in chunks of
/// <see cref="EvalForward.ConvChunk"/> on the CPU) one chunk's outputs and unfolded input plus the batch's inputs.</param>
internal sealed record CurvatureMemory(long G, long GradientBatch, long Factors, long FactorTransient, long UpdateTransient,
    long Bookkeeping = 0, long LossEvaluation = 0)
{
    public long Peak => G + Math.Max(GradientBatch, Factors + Bookkeeping + Math.Max(Math.Max(FactorTransient, UpdateTransient), LossEvaluation));

    /// <param name="sampleShape">One input's shape, C×H×W.</param>
    /// <param name="n">Fisher samples N.</param>
    /// <param name="m">Examples per Fisher sample.</param>
    /// <param name="bookkeepingBytesPerWeight">What the pruning method holds per weight beside the Fisher (0: the Fisher alone).</param>
    /// <param name="lossEvaluationExamples">Examples in the largest forward pass the method runs beside the Fisher.</param>
    /// <param name="work">What the method does with the Fisher beyond products (default: everything, method-blind).</param>
    /// <param name="keptFraction">At most this fraction of each block is kept (1 − the lowest sparsity).</param>
    public static CurvatureMemory Estimate(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        IReadOnlyList<int> sampleShape, int n, int m, IReadOnlyList<FisherBlock> blocks, int bookkeepingBytesPerWeight = 0,
        int lossEvaluationExamples = 0, FisherWork work = FisherWork.Factors | FisherWork.KeptSetSolve, double keptFraction = 1)
    {
        long d = PrunableParameters.TotalCount(parameters);
        bool convolutions = EvalForward.HasConvolutions(model);
        int batch = EmpiricalFisher.GradientBatchExamples(d, m, convolutions);   // as on the CPU
        var (activations, largestUnfold) = Footprint(model, parameters, sampleShape);
        double gradientBatch = 4.0 * batch * d + 2.0 * batch * activations + 2.0 * batch * largestUnfold;
        double factors = 0, largestBlock = 0, update = 0, factorTransient = 0;
        foreach (var b in blocks)
        {
            double size = Math.Min(n, b.Length);
            factors += 8 * size * size;
            largestBlock = Math.Max(largestBlock, b.Length);
            // Forming the factor (in place over its float64 system, EmpiricalFisher.Gram and DampedCholesky.FactorInPlace):
            // one float32 product of at most 32 MiB of rows, and the panel of the blocked factorisation with its copy.
            double build = Math.Min(32.0 * 1048576, 4 * size * size) + 16.0 * Math.Min(DampedCholesky.InPlaceBlock, size) * size;
            // diag(F_λ⁻¹): a Woodbury block's float64 column chunk of G, its triangular solve and that squared; a direct
            // block's inverse and the column-major copy of the factor that cholesky_inverse makes.
            double diagonal = b.Length > n ? 3.0 * Math.Min(KeptColumns.ChunkBytes, 8.0 * n * b.Length) : 16 * size * size;
            factorTransient = Math.Max(factorTransient, Math.Max(build, diagonal));
            double kept = Math.Min(n, Math.Ceiling(Math.Clamp(keptFraction, 0, 1) * b.Length));
            double chunk = Math.Min(1.5 * KeptColumns.ChunkBytes, 12.0 * n * b.Length);
            // the kept-set system: its Gram matrix in float32 beside the float64 system (which its factor then overwrites),
            // or the factor with one column chunk of G (KeptColumns), whichever is larger
            update = Math.Max(update, Math.Max(12 * kept * kept, 8 * kept * kept + chunk));
        }
        if (!work.HasFlag(FisherWork.Factors)) factors = factorTransient = 0;
        if (!work.HasFlag(FisherWork.KeptSetSolve)) update = 0;
        // CHITA's support columns: a fifth of the largest block in float32 and 25 % spare, capped at one chunk; and its active
        // set's columns: up to three times the support, capped at one chunk (beyond that IHT runs on the whole block)
        if (work.HasFlag(FisherWork.SupportColumns))
            update += Math.Min(KeptColumns.ChunkBytes, 4.0 * n * largestBlock / 4) + Math.Min(KeptColumns.ChunkBytes, 4.0 * n * largestBlock * 3 / 5);
        // The loss batch's forward: a conv model on the CPU runs it in chunks of EvalForward.ConvChunk examples (each
        // chunk's layer outputs and its largest unfolded input), beside the whole batch's inputs.
        double lossForward = convolutions && lossEvaluationExamples > EvalForward.ConvChunk
            ? EvalForward.ConvChunk * (activations + largestUnfold) + 4.0 * lossEvaluationExamples * sampleShape.Aggregate(1L, (a, x) => a * x)
            : lossEvaluationExamples * activations;
        return new CurvatureMemory(4L * n * d, (long)gradientBatch, (long)factors, (long)factorTransient, (long)update,
            (long)bookkeepingBytesPerWeight * d, (long)lossForward);
    }

    /// <summary>
    /// Bytes per example of every leaf module's output in one forward pass, and of the largest unfolded conv input among
    /// the prunable layers (C_in·k²·positions, float32), found by running one zero input through the model with hooks.
    /// </summary>
    private static (double Activations, double LargestUnfold) Footprint(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<PrunableParameter> parameters, IReadOnlyList<int> sampleShape)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var prunable = parameters.Select(p => p.Weight.Handle).ToHashSet();
        double activations = 0, unfold = 0;
        var removers = new List<Action>();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            foreach (var (_, module) in model.named_modules())
            {
                if (module.children().Any() || module is not nn.Module<Tensor, Tensor> leaf) continue;
                var handle = leaf.register_forward_hook((_, input, output) =>
                {
                    activations += 4.0 * output.numel();
                    if (module is TorchSharp.Modules.Conv2d conv && prunable.Contains(conv.weight!.Handle))
                    {
                        long patch = conv.weight!.shape[1] * conv.weight.shape[2] * conv.weight.shape[3] * conv.groups;
                        unfold = Math.Max(unfold, 4.0 * patch * output.shape[2] * output.shape[3]);
                    }
                    return output;
                });
                removers.Add(handle.remove);
            }
            model.call(zeros([1, .. sampleShape.Select(s => (long)s)]));
        }
        finally
        {
            foreach (var remove in removers) remove();
            model.train(wasTraining);
        }
        return (activations, unfold);
    }
}
