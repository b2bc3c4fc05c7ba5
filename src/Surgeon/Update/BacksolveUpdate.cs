using Surgeon.Compression;
using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Update;

/// <summary>
/// CHITA's backsolve as an update: the kept weights become the exact minimiser of ½(β − w̄)ᵀF_λ(β − w̄) with the
/// pruned weights at 0 (a ridge regression on the support through an N×N system; see <see cref="RidgeBacksolve"/>).
/// After any selection: <c>chita</c> = chita-iht+backsolve, <c>chita-bso</c> = magnitude@global+backsolve.
/// <c>backsolve-g</c> keeps the loss gradient in the local model, ½(β − w̄)ᵀF_λ(β − w̄) + ḡᵀ(β − w̄) (CHITA++'s
/// first-order term): at a trained model ḡ ≈ 0 and it changes little, but between the stages of a multi-stage prune
/// the weights are no longer at a minimum and the term turns each stage into a damped Gauss–Newton step on the support.
/// </summary>
internal sealed class BacksolveUpdate(bool firstOrder = false) : IWeightUpdate, IUsesFisher
{
    public bool FirstOrder { get; } = firstOrder;

    public string Name => FirstOrder ? "backsolve-g" : "backsolve";
    public string Description => FirstOrder
        ? "CHITA++'s backsolve with the gradient term: the kept weights minimise ½(β − w̄)ᵀF_λ(β − w̄) + ḡᵀ(β − w̄) with the pruned ones at 0"
        : "CHITA's backsolve: the kept weights minimise ½(β − w̄)ᵀF_λ(β − w̄) with the pruned ones at 0 (ridge on the support, N×N system)";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    /// <summary>The keep mask (1), the weights in float32 and float64 (12), the result in float64 and float32 (12),
    /// each block's index lists (16), rounded up to 48.</summary>
    public int BookkeepingBytesPerWeight => 48;

    public FisherWork Work => FisherWork.KeptSetSolve;

    public int LossEvaluationExamples(PruningOptions options) => 0;

    public void Update(PruningContext context, Tensor keep)
    {
        using var scope = NewDisposeScope();
        var fisher = FisherProvider.For(context, Name);
        var w = PrunableParameters.Flatten(context.Parameters);
        // CHITA's selection has solved this very system on the support it chose: reuse that β when it matches.
        var known = FirstOrder ? null : KnownBacksolve.Take(context, fisher, w.to(ScalarType.Float64).cpu().data<double>().ToArray(),
            keep.flatten().to(ScalarType.Bool).cpu().contiguous().data<bool>().ToArray());
        var beta = known is not null ? tensor(known) : RidgeBacksolve.Solve(fisher, w, keep, firstOrder: FirstOrder);
        PrunableParameters.Assign(context.Parameters, beta.to(w.dtype).to(w.device));
    }
}
