using Surgeon.Numerics;
using Surgeon.Curvature;
using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// WoodFisher selection (Singh &amp; Alistarh 2020; "WF-S" in the CBS paper): the OBS saliency
/// ρ_q = w_q² / (2[F_λ⁻¹]_qq) of each weight, the increase of the quadratic model when weight q alone is removed with its
/// optimal compensating update; the k = ⌊s·d⌋ smallest are pruned globally.
/// </summary>
public sealed class WoodFisherSelection : ISelection, IUsesFisher
{
    /// <summary>diag(F_λ⁻¹) cached in float64 (8); the saliency's flattened weights in float32 and float64, w² and
    /// 2·diag (4 + 8 + 8 + 8); then the sort's values and indices (16) beside the saliency: 36 at the peak, rounded up.</summary>
    public int BookkeepingBytesPerWeight => 40;

    public int LossEvaluationExamples(PruningOptions options) => 0;

    public Tensor SelectKeep(PruningContext context, double sparsity)
    {
        using var scope = NewDisposeScope();
        var saliency = Saliency(context, FisherProvider.For(context, "wf"));
        return TopK.PruneLowest(saliency, SparsityTarget.PruneCount(sparsity, saliency.numel())).MoveToOuterDisposeScope();
    }

    public static Tensor Saliency(PruningContext context, EmpiricalFisher fisher)
    {
        using var scope = NewDisposeScope();
        var w = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64).to(fisher.G.device);
        var inverseDiagonal = fisher.InverseDiagonal().to(ScalarType.Float64);
        return w.Squared().div_(inverseDiagonal.mul(HeldScalars.Of(2))).MoveToOuterDisposeScope();
    }
}
