using Surgeon.Compression;
using Surgeon.Numerics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// Layer-wise OBS (Frantar and Alistarh): per prunable layer, the reconstruction error ‖WX − ŴX‖² of its calibration
/// inputs X (rows of im2col patches for a convolution) has the Hessian H = 2XᵀX/n (+ damping, 1 % of mean diag H, as in
/// the authors' code); each output row is pruned on its own against H. Two solvers share this:
/// <list type="bullet">
/// <item><c>obc</c> (Optimal Brain Compression, arXiv:2208.11580): the exact greedy OBS sequence per row, removing the
/// weight of least w_q²/[H⁻¹]_qq, updating the row by −(w_q/[H⁻¹]_qq)H⁻¹e_q and downdating H⁻¹ by
/// H⁻¹ − H⁻¹e_qe_qᵀH⁻¹/[H⁻¹]_qq. Unstructured: the rows' removal costs are pooled so the layer's count goes to the rows
/// where it costs least; the kept weights of each row are then its exact least-squares reconstruction.</item>
/// <item><c>sparsegpt</c> (arXiv:2301.00774): columns in blocks of 128; at each block start the mask of the block is
/// chosen by w²/[U]_jj² (U the upper Cholesky factor of H⁻¹) row by row, then the columns are processed left to right,
/// each pruned weight's error spread over the later columns through U (one pass, no per-row inverse).</item>
/// </list>
/// With an N:M pattern (<c>obc@2:4</c>, <c>sparsegpt@2:4</c>) every group of M consecutive weights of a row loses exactly
/// N. Without one, a layer's count comes from the global magnitude threshold at the target. The weights are updated as
/// part of the selection, so these take no +update. Inputs are the dense model's (not re-propagated through pruned layers).
/// </summary>
internal sealed class LayerwiseObs(bool sparseGpt = false, int n = 0, int m = 0) : IJointSelection
{
    public const double Damping = 0.01;
    public const int SparseGptBlock = 128;

    public bool SparseGpt { get; } = sparseGpt;
    public int N { get; } = n;
    public int M { get; } = m;
    public string Name => (SparseGpt ? "sparsegpt" : "obc") + (M > 0 ? $"@{N}:{M}" : "");
    public string Description => (SparseGpt
        ? "SparseGPT: layer-wise OBS by column blocks through the Cholesky factor of H⁻¹ (H = 2XᵀX/n of calibration inputs)"
        : "OBC: exact greedy layer-wise OBS per row with H⁻¹ downdates (H = 2XᵀX/n of calibration inputs)")
        + (M > 0 ? $", {N}:{M} pattern" : "");
    public StageNeeds Needs => StageNeeds.Data;

    public LayerwiseObs WithPattern(int n, int m) => new(SparseGpt, n, m);

    public Tensor SelectKeep(PruningContext context, PruneTarget target)
    {
        var data = context.RequireScoreData(Name);
        var hessians = LayerHessians.Compute(context.Model, context.Parameters, data);
        using var scope = NewDisposeScope();
        long total = PrunableParameters.TotalCount(context.Parameters);
        Tensor? counts = null;
        if (M == 0)
        {
            var flat = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64);
            using var magnitude = GlobalRule.KeepTop(context.Parameters, flat.abs(), target.CountOf(total), context.Mask);
            counts = magnitude.Keep.clone();
        }
        var keeps = new List<Tensor>();
        long offset = 0;
        using var task = context.Progress.Start($"{Name}: layers", context.Parameters.Count);
        for (int l = 0; l < context.Parameters.Count; l++)
        {
            var p = context.Parameters[l];
            using var layerScope = NewDisposeScope();
            long rows = p.Shape[0], cols = p.Count / rows;
            var w = p.Weight.detach().reshape(rows, cols).to(ScalarType.Float64);
            var h = hessians[l];
            var allowed = context.Mask?.Keep.narrow(0, offset, p.Count).reshape(rows, cols);
            (Tensor Weights, Tensor Keep) result;
            if (SparseGpt)
            {
                long prune = counts is null ? 0 : p.Count - counts.narrow(0, offset, p.Count).sum().item<long>();
                result = SparseGptSolver.Prune(w, h, prune, N, M, allowed);
            }
            else if (M > 0)
            {
                result = Obc.PrunePattern(w, h, N, M, allowed);
            }
            else
            {
                long prune = p.Count - counts!.narrow(0, offset, p.Count).sum().item<long>();
                result = Obc.Prune(w, h, prune, allowed);
            }
            using (no_grad()) p.Weight.copy_(result.Weights.reshape(p.Shape).to(p.Weight.dtype));
            keeps.Add(result.Keep.flatten().MoveToOuterDisposeScope());
            offset += p.Count;
            task.Advance();
        }
        foreach (var hh in hessians) hh.Dispose();
        return cat(keeps, 0).MoveToOuterDisposeScope();
    }
}

/// <summary>H = 2XᵀX/n per prunable layer from its inputs on the calibration samples (Linear: the input rows; Conv2d:
/// the im2col patches), damped by 1 % of its mean diagonal. float64, cols×cols.</summary>
internal static class LayerHessians
{
    public static IReadOnlyList<Tensor> Compute(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Data.ScoringData data, double damping = LayerwiseObs.Damping)
    {
        var layers = new nn.Module<Tensor, Tensor>[parameters.Count];
        foreach (var (_, module) in model.named_modules())
        {
            Tensor? weight = module switch { Linear lin => lin.weight, Conv2d c => c.weight, _ => null };
            if (weight is null) continue;
            for (int i = 0; i < parameters.Count; i++)
                if (parameters[i].Weight.Handle == weight.Handle) layers[i] = (nn.Module<Tensor, Tensor>)module;
        }
        for (int i = 0; i < layers.Length; i++)
        {
            if (layers[i] is null) throw new SurgeonException($"layer-wise OBS: {parameters[i].Name} is not the weight of a Linear or Conv2d layer");
            if (layers[i] is Conv2d c && c.groups != 1) throw new SurgeonException($"layer-wise OBS: {parameters[i].Name} is a grouped convolution, not supported");
        }
        var sums = parameters.Select(p => zeros(p.Count / p.Shape[0], p.Count / p.Shape[0], ScalarType.Float64).DetachFromDisposeScope()).ToArray();
        var counts = new long[parameters.Count];
        var removers = new List<Action>();
        bool wasTraining = model.training;
        model.eval();
        try
        {
            for (int i = 0; i < layers.Length; i++)
            {
                int index = i;
                var layer = layers[i];
                removers.Add(layer.register_forward_hook((_, input, output) =>
                {
                    using var scope = NewDisposeScope();
                    var x = Rows(layer, input.detach()).to(ScalarType.Float64);
                    sums[index].add_(x.T.matmul(x), HeldScalars.One);
                    counts[index] += x.shape[0];
                    return output;
                }).remove);
            }
            using var noGrad = no_grad();
            for (int b = 0; b < data.BatchCount; b++)
            {
                using var scope = NewDisposeScope();
                var (inputs, _) = data.Batch(b);
                model.call(inputs);
            }
        }
        finally
        {
            foreach (var remove in removers) remove();
            model.train(wasTraining);
        }
        for (int i = 0; i < sums.Length; i++)
        {
            using var scope = NewDisposeScope();
            sums[i].mul_(HeldScalars.Of(2.0 / Math.Max(1, counts[i])));
            double mean = sums[i].diagonal().mean().item<double>();
            sums[i].diagonal().add_(HeldScalars.Of(Math.Max(damping * mean, 1e-12)), HeldScalars.One);
        }
        return sums;
    }

    /// <summary>The layer's input as rows of its weight's column space: [n, in] for Linear, im2col [n·L, C·kh·kw] for Conv2d.</summary>
    private static Tensor Rows(nn.Module<Tensor, Tensor> layer, Tensor input)
    {
        if (layer is Conv2d conv)
        {
            var k = conv.weight!.shape;
            var cols = nn.functional.unfold(input, (k[2], k[3]), dilation: (conv.dilation[0], conv.dilation[1]),
                padding: (conv.padding![0], conv.padding[1]), stride: (conv.stride[0], conv.stride[1]));
            return cols.transpose(1, 2).reshape(-1, cols.shape[1]);
        }
        return input.reshape(-1, input.shape[^1]);
    }
}
