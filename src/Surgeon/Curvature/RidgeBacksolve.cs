using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// CHITA's backsolve (Benbaki et al. 2023): on a fixed support S, the exact minimiser of the ℓ0-regression objective
/// Q(β) = ½‖A(w̄ − β)‖² + λ₂‖β − w̄‖² with A = G/√N and λ₂ = λ/2, i.e. Q(β) = ½(β − w̄)ᵀF_λ(β − w̄), subject to β_P = 0
/// off the support. Setting the gradient on S to zero gives (λI + G_SᵀG_S/N)δ_S = G_SᵀG_P w̄_P/N with β_S = w̄_S + δ_S;
/// with more kept weights than samples it is solved through the N×N system δ_S = G_Sᵀ(NλI + G_SG_Sᵀ)⁻¹G_P w̄_P
/// (Woodbury), never through a d×d matrix. The Fisher is block-diagonal, so every block is solved on its own.
/// (With λ₂ = λ/2 this is the same ridge solution as CBS-U's update; the CHITA paper uses it on IHT's support.)
/// With <c>firstOrder</c> the local model keeps the loss gradient ḡ = Gᵀ1/N (the mean of the per-sample gradients):
/// Q₁(β) = Q(β) + ḡᵀ(β − w̄), as CHITA++ does between stages, where the weights are no longer at a minimum. Because
/// ḡ_S = G_Sᵀ1/N lies in the row space of G_S, the solve only changes its right-hand side from G_P w̄_P to G_P w̄_P − 1
/// (δ_S = G_Sᵀ(NλI + G_SG_Sᵀ)⁻¹(G_P w̄_P − 1)): a damped Gauss–Newton step on the support.
/// </summary>
internal static class RidgeBacksolve
{
    /// <summary>β: zero where <paramref name="keep"/> is false, the ridge solution on the kept weights of every block.
    /// <paramref name="w"/> is the flat w̄ (any float dtype; the result is float64 on G's device). CBS-U is the same
    /// solve with its update scale c (w_U + c·δw_U); <paramref name="system"/> names the system in a factorisation error;
    /// <paramref name="firstOrder"/> adds the gradient term ḡᵀ(β − w̄) to the objective.</summary>
    public static Tensor Solve(EmpiricalFisher fisher, Tensor w, Tensor keep, double scale = 1.0, string system = "backsolve system",
        bool firstOrder = false)
    {
        if (w.numel() != fisher.D || keep.numel() != fisher.D)
            throw new ArgumentException($"backsolve needs {fisher.D} weights and keep flags, got {w.numel()} and {keep.numel()}");
        using var scope = NewDisposeScope();
        var device = fisher.G.device;
        var result = w.flatten().to(ScalarType.Float64).to(device).clone();
        var keepFlat = keep.flatten().to(ScalarType.Bool).to(device);
        double n = fisher.N, lambda = fisher.Lambda;
        foreach (var block in fisher.Blocks)
        {
            using var blockScope = NewDisposeScope();
            var keepB = keepFlat.narrow(0, block.Offset, block.Length);
            var wB = result.narrow(0, block.Offset, block.Length);
            var prunedIdx = keepB.logical_not().nonzero().flatten();
            var keptIdx = keepB.nonzero().flatten();
            if (prunedIdx.numel() == 0 && !firstOrder) continue;
            if (keptIdx.numel() > 0)
            {
                // Column chunks of G_b (KeptColumns), never G_U or G_P gathered whole: at N = 8,000 on MLPNet those
                // copies (G_P in float32 and float64) took 3× G and were the peak of a CBS run.
                var gB = fisher.Columns(block);
                var r = KeptColumns.Times(gB, wB.masked_fill(keepB, HeldScalars.Of(0))); // G_P w̄_P, length N
                if (firstOrder) r.add_(HeldScalars.Of(-1), HeldScalars.One); // − N·(1/N): the gradient term ḡ_S = G_Sᵀ1/N
                string where = $"{system} in the block at weights {block.Offset}..{block.End - 1}";
                Tensor delta;
                if (keptIdx.numel() > fisher.N)
                {
                    var k = KeptColumns.Gram(gB, keptIdx, outer: true);
                    k.diagonal().add_(HeldScalars.Of(n * lambda), HeldScalars.One);
                    DampedCholesky.FactorInPlace(k, lambda, fisher.N, woodbury: true, where, fisher.FactorBlock);
                    var l = k;
                    delta = KeptColumns.TransposeTimes(gB, DampedCholesky.Solve(l, r.unsqueeze(1)).squeeze(1), keptIdx);
                }
                else
                {
                    var a = KeptColumns.Gram(gB, keptIdx, outer: false).div_(HeldScalars.Of(n));
                    a.diagonal().add_(HeldScalars.Of(lambda), HeldScalars.One);
                    DampedCholesky.FactorInPlace(a, lambda, fisher.N, woodbury: false, where, fisher.FactorBlock);
                    var l = a;
                    var rhs = KeptColumns.TransposeTimes(gB, r, keptIdx).div_(HeldScalars.Of(n));
                    delta = DampedCholesky.Solve(l, rhs.unsqueeze(1)).squeeze(1);
                }
                wB.index_add_(0, keptIdx, delta, HeldScalars.Of(scale));
            }
            if (prunedIdx.numel() > 0) wB.index_fill_(0, prunedIdx, HeldScalars.Of(0));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Q(β) = ½(β − w̄)ᵀF_λ(β − w̄) = ½‖G(β − w̄)‖²/N + (λ/2)‖β − w̄‖², summed over the blocks (F·v in G's dtype);
    /// with <paramref name="firstOrder"/> plus ḡᵀ(β − w̄), ḡ = Gᵀ1/N.</summary>
    public static double Objective(EmpiricalFisher fisher, Tensor w, Tensor beta, bool firstOrder = false)
    {
        using var scope = NewDisposeScope();
        var d = beta.flatten().to(ScalarType.Float64).to(fisher.G.device) - w.flatten().to(ScalarType.Float64).to(fisher.G.device);
        double quadratic = fisher.Times(d).to(ScalarType.Float64).dot(d).item<double>();
        double norm = d.dot(d).item<double>();
        double linear = firstOrder ? fisher.G.matmul(d.to(fisher.G.dtype)).to(ScalarType.Float64).sum().item<double>() / fisher.N : 0;
        return 0.5 * (quadratic + fisher.Lambda * norm) + linear;
    }
}
