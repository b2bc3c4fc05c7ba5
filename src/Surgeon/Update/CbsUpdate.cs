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
internal sealed class CbsUpdate : IWeightUpdate, IUsesFisher
{
    public string Name => "cbs-u";
    public string Description => "the CBS-U multi-weight update: the kept weights compensate jointly, −F_λ⁻¹E_P(E_PᵀF_λ⁻¹E_P)⁻¹w_P";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    /// <summary>The keep mask (1), the weights in float32 and float64 (12), the updated copy (8) and its float32 (4): 25;
    /// each block's index lists are at most one layer's, rounded up to 32.</summary>
    public int BookkeepingBytesPerWeight => 32;

    public FisherWork Work => FisherWork.KeptSetSolve;

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
    public static Tensor Apply(EmpiricalFisher fisher, Tensor w, Tensor keep, double scale = 1.0) =>
        RidgeBacksolve.Solve(fisher, w, keep, scale, "kept-set system of CBS-U");
}
