using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Update;

/// <summary>
/// CBS-U (Yu et al. 2022): the multi-weight OBS update that removes all of P at once,
/// δw = −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P, so the pruned weights become exactly 0 and the kept ones compensate jointly.
/// Computed through the kept set U of each Fisher block, never with a d×d matrix:
/// δw_U = (λI + G_UᵀG_U/N)⁻¹ G_Uᵀ(G_P w_P)/N = G_Uᵀ(NλI + G_UG_Uᵀ)⁻¹(G_P w_P), solving the smaller system.
/// </summary>
public sealed class CbsUpdate : IWeightUpdate, IUsesFisher
{
    public string Name => "cbs-u";
    public string Description => "the CBS-U multi-weight update: the kept weights compensate jointly, −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    /// <summary>The keep mask (1), the weights in float32 and float64 (12), the updated copy (8) and its float32 (4): 25;
    /// each block's index lists are at most one layer's, rounded up to 32.</summary>
    public int BookkeepingBytesPerWeight => 32;

    public int LossEvaluationExamples(PruningOptions options) => 0;

    public void Update(PruningContext context, Tensor keep)
    {
        using var scope = NewDisposeScope();
        var fisher = FisherProvider.For(context, "cbs-u");
        var w = PrunableParameters.Flatten(context.Parameters);
        var updated = Apply(fisher, w.to(ScalarType.Float64).to(fisher.G.device), keep.to(fisher.G.device), context.Options.UpdateScale);
        PrunableParameters.Assign(context.Parameters, updated.to(w.dtype).to(w.device));
    }

    /// <summary>The updated weights: w_P = 0 and w_U + c·δw_U in every block (c = update scale, 1 = the paper's update).</summary>
    public static Tensor Apply(EmpiricalFisher fisher, Tensor w, Tensor keep, double scale = 1.0)
    {
        using var scope = NewDisposeScope();
        var result = w.to(ScalarType.Float64).clone();
        var g = fisher.G;
        double n = fisher.N, lambda = fisher.Lambda;
        foreach (var block in fisher.Blocks)
        {
            using var blockScope = NewDisposeScope();
            var keepB = keep.narrow(0, block.Offset, block.Length);
            var wB = result.narrow(0, block.Offset, block.Length);
            var prunedIdx = keepB.logical_not().nonzero().flatten();
            var keptIdx = keepB.nonzero().flatten();
            if (prunedIdx.numel() == 0)
                continue;
            if (keptIdx.numel() > 0)
            {
                // Gram products in G's dtype (float32 in real use: the fast path, as in EmpiricalFisher); the
                // factorisation and solves in float64, where the conditioning matters.
                var gB = g.narrow(1, block.Offset, block.Length);
                var gP = gB.index_select(1, prunedIdx);
                var gU = gB.index_select(1, keptIdx);
                var r = gP.to(ScalarType.Float64).matmul(wB.index_select(0, prunedIdx)); // G_P w_P, length N
                Tensor delta;
                if (keptIdx.numel() > fisher.N)
                {
                    // Woodbury: N×N system NλI + G_U G_Uᵀ.
                    var k = gU.matmul(gU.T).to(ScalarType.Float64);
                    k.diagonal().add_(HeldScalars.Of(n * lambda), HeldScalars.One);
                    var l = DampedCholesky.Factor(k, lambda, fisher.N, woodbury: true, $"kept-set system of CBS-U in the block at weights {block.Offset}..{block.End - 1}");
                    delta = gU.T.to(ScalarType.Float64).matmul(cholesky_solve(r.unsqueeze(1), l).squeeze(1));
                }
                else
                {
                    // |U|×|U| system λI + G_UᵀG_U/N.
                    var a = gU.T.matmul(gU).to(ScalarType.Float64).div_(HeldScalars.Of(n));
                    a.diagonal().add_(HeldScalars.Of(lambda), HeldScalars.One);
                    var l = DampedCholesky.Factor(a, lambda, fisher.N, woodbury: false, $"kept-set system of CBS-U in the block at weights {block.Offset}..{block.End - 1}");
                    var rhs = gU.T.to(ScalarType.Float64).matmul(r).div_(HeldScalars.Of(n));
                    delta = cholesky_solve(rhs.unsqueeze(1), l).squeeze(1);
                }
                wB.index_add_(0, keptIdx, delta, HeldScalars.Of(scale));
            }
            wB.index_fill_(0, prunedIdx, HeldScalars.Of(0));
        }
        return result.MoveToOuterDisposeScope();
    }
}
