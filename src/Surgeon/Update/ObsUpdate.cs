using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Update;

/// <summary>
/// The WoodFisher (OBS) update of the remaining weights: δw = −c·F_λ⁻¹ Σ_{q∈P} (w_q / [F_λ⁻¹]_qq) e_q, the sum of the
/// single-weight OBS updates of the pruned weights, scaled by c (<see cref="PruningOptions.UpdateScale"/>). Each term
/// alone zeroes its own weight; together they do not exactly, so the mask is applied afterwards (pruned weights become 0).
/// </summary>
internal sealed class ObsUpdate : IWeightUpdate, IUsesFisher
{
    public string Name => "obs";
    public string Description => "the OBS (WoodFisher) update −F_λ⁻¹Σ(w_q/[F_λ⁻¹]_qq)e_q of the kept weights (--update-scale)";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    /// <summary>The keep mask and the pruned mask (2), diag(F_λ⁻¹) (8), the weights in float32 and float64 (12), w/diag,
    /// its zeros and the masked coefficients (24), F_λ⁻¹ times them and the scaled δw (16): 62, rounded up.</summary>
    public int BookkeepingBytesPerWeight => 64;

    public FisherWork Work => FisherWork.Factors;

    public int LossEvaluationExamples(PruningOptions options) => 0;

    public void Update(PruningContext context, Tensor keep)
    {
        using var scope = NewDisposeScope();
        var fisher = FisherProvider.For(context, "wf");
        var delta = Delta(context, fisher, keep);
        var w = PrunableParameters.Flatten(context.Parameters);
        PrunableParameters.Assign(context.Parameters, w.to(ScalarType.Float64).add_(delta.to(w.device), HeldScalars.One).to(w.dtype));
    }

    public static Tensor Delta(PruningContext context, EmpiricalFisher fisher, Tensor keep)
    {
        using var scope = NewDisposeScope();
        var device = fisher.G.device;
        var w = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64).to(device);
        var pruned = keep.to(device).logical_not();
        var inverseDiagonal = fisher.InverseDiagonal().to(ScalarType.Float64);
        var coefficients = where(pruned, w / inverseDiagonal, zeros_like(w));
        var delta = fisher.InverseTimes(coefficients).to(ScalarType.Float64).mul(HeldScalars.Of(-context.Options.UpdateScale));
        return delta.MoveToOuterDisposeScope();
    }
}
