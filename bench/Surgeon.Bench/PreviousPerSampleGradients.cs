using Surgeon.Compression;
using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// The fast per-sample-gradient rule as it was before the rows were written into G (commit 1af1f7a's
/// Curvature/PerSampleGradients.TryFast, kept here for the per-sample-write bench): a zeroed B×d result, each layer's
/// batched product in a new tensor added into its columns, the caller then copying the result into G.
/// </summary>
internal static class PreviousPerSampleGradients
{
    public static Tensor Compute(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters, Tensor inputs, Tensor labels)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            return TryFast(model, parameters, inputs, labels) ?? throw new InvalidOperationException("the previous fast rule does not apply to this model");
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>How a captured layer call turns into per-sample weight gradients.</summary>
    private sealed record LayerCall(int ParameterIndex, Tensor Input, Tensor Output);

    private static Tensor? TryFast(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels)
    {
        // Find the layer of every prunable weight (by native handle) and check that we can read its options.
        var layers = new nn.Module<Tensor, Tensor>?[parameters.Count];
        foreach (var (_, module) in model.named_modules())
        {
            Tensor? weight = module switch { Linear l => l.weight, Conv2d c => c.weight, _ => null };
            if (weight is null) continue;
            for (int i = 0; i < parameters.Count; i++)
                if (parameters[i].Weight.Handle == weight.Handle)
                {
                    if (layers[i] is not null) return null; // one weight in two layers: leave it to the loop
                    layers[i] = (nn.Module<Tensor, Tensor>)module;
                }
        }
        if (layers.Any(l => l is null)) return null;
        foreach (var layer in layers)
            if (layer is Conv2d conv && !ConvSupported(conv))
                return null;

        using var gradMode = enable_grad();
        using var scope = NewDisposeScope();
        var calls = new List<LayerCall>();
        var removers = new List<Action>();
        try
        {
            var distinct = layers.Select((l, i) => (Layer: l!, Index: i)).ToList();
            foreach (var (layer, index) in distinct)
            {
                var handle = layer.register_forward_hook((_, input, output) =>
                {
                    // New handles to the same tensors, out of any dispose scope: the model may dispose its intermediates
                    // (e.g. a NewDisposeScope in forward) before we use them; we dispose these ourselves.
                    calls.Add(new LayerCall(index, input.detach().DetachFromDisposeScope(), output.alias().DetachFromDisposeScope()));
                    return output;
                });
                removers.Add(handle.remove);
            }
            var logits = model.call(inputs);
            foreach (var remove in removers) remove();
            removers.Clear();

            var seen = new bool[parameters.Count];
            foreach (var c in calls) seen[c.ParameterIndex] = true;
            if (seen.Any(s => !s)) return null; // some layer was run without its hooks
            var usable = calls.Where(c => c.Output.requires_grad).ToList();
            if (logits.dim() != 2 || logits.shape[0] != inputs.shape[0]) return null;

            var loss = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum);
            var gradOutputs = usable.Count == 0
                ? []
                : autograd.grad([loss], usable.Select(c => c.Output).ToList(), allow_unused: true);

            long b = inputs.shape[0];
            var offsets = new long[parameters.Count];
            for (int i = 1; i < parameters.Count; i++) offsets[i] = offsets[i - 1] + parameters[i - 1].Count;
            // Each layer's rows go straight into the result, and its unfolded input and product are freed before the
            // next layer's: the batch needs B×d plus one layer's work, not B×d twice plus every layer's unfold.
            var result = zeros([b, PrunableParameters.TotalCount(parameters)], parameters[0].Weight.dtype, inputs.device);
            for (int k = 0; k < usable.Count; k++)
            {
                var call = usable[k];
                if (gradOutputs[k] is not { } gradOut || gradOut.Handle == IntPtr.Zero) continue;
                using var layerScope = NewDisposeScope();
                var layer = layers[call.ParameterIndex]!;
                var contribution = layer switch
                {
                    Linear => LinearRule(call.Input, gradOut, parameters[call.ParameterIndex].Shape, b),
                    Conv2d conv => ConvRule(conv, call.Input, gradOut, parameters[call.ParameterIndex].Shape, b),
                    _ => null,
                };
                if (contribution is null) return null;
                // A layer called more than once adds up its calls' contributions.
                result.narrow(1, offsets[call.ParameterIndex], parameters[call.ParameterIndex].Count).add_(contribution, HeldScalars.One);
            }
            return result.MoveToOuterDisposeScope();
        }
        finally
        {
            foreach (var remove in removers) remove();
            foreach (var c in calls)
            {
                c.Input.Dispose();
                c.Output.Dispose();
            }
        }
    }

    private static bool ConvSupported(Conv2d conv) =>
        conv.padding_type is null && conv.padding_mode == PaddingModes.Zeros
        && conv.kernel_size.Length == 2 && conv.stride.Length == 2 && conv.dilation.Length == 2
        && conv.padding is { Length: 2 } && conv.groups >= 1;

    /// <summary>Linear: grad_W[b] = Σ_t gradOut[b,t]ᵀ ⊗ input[b,t] over any extra leading dims t.</summary>
    private static Tensor? LinearRule(Tensor input, Tensor gradOut, long[] weightShape, long b)
    {
        long outF = weightShape[0], inF = weightShape[1];
        if (input.dim() < 2 || gradOut.dim() != input.dim() || input.shape[0] != b || gradOut.shape[0] != b
            || input.shape[^1] != inF || gradOut.shape[^1] != outF)
            return null;
        for (int k = 1; k < input.dim() - 1; k++)
            if (input.shape[k] != gradOut.shape[k]) return null;
        var a = input.reshape(b, -1, inF);          // [B, T, in]
        var g = gradOut.reshape(b, -1, outF);       // [B, T, out]
        return bmm(g.transpose(1, 2), a).reshape(b, outF * inF); // [B, out·in], row-major like weight.flatten()
    }

    /// <summary>Conv2d: grad_W[b] = gradOut[b] (per group) × unfold(input[b])ᵀ.</summary>
    private static Tensor? ConvRule(Conv2d conv, Tensor input, Tensor gradOut, long[] weightShape, long b)
    {
        long groups = conv.groups;
        long cout = weightShape[0], cinPerGroup = weightShape[1], kh = weightShape[2], kw = weightShape[3];
        if (input.dim() != 4 || gradOut.dim() != 4 || input.shape[0] != b || gradOut.shape[0] != b
            || input.shape[1] != cinPerGroup * groups || gradOut.shape[1] != cout || cout % groups != 0
            || conv.kernel_size[0] != kh || conv.kernel_size[1] != kw)
            return null;
        var (sh, sw) = (conv.stride[0], conv.stride[1]);
        var (dh, dw) = (conv.dilation[0], conv.dilation[1]);
        if (conv.padding is not { Length: 2 } pad) return null;
        var (ph, pw) = (pad[0], pad[1]);
        long h = input.shape[2], w = input.shape[3];
        long ho = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1, wo = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
        if (gradOut.shape[2] != ho || gradOut.shape[3] != wo) return null;
        long l = ho * wo, patch = cinPerGroup * kh * kw, coutPerGroup = cout / groups;
        var cols = nn.functional.unfold(input, (kh, kw), (dh, dw), (ph, pw), (sh, sw)); // [B, Cin·kh·kw, L]
        if (cols.dim() != 3 || cols.shape[1] != groups * patch || cols.shape[2] != l) return null;
        var x = cols.reshape(b * groups, patch, l);                       // unfold is channel-major, so groups are contiguous
        var g = gradOut.reshape(b * groups, coutPerGroup, l);
        return bmm(g, x.transpose(1, 2)).reshape(b, cout * patch);        // [B, Cout·Cin/g·kh·kw]
    }
}
