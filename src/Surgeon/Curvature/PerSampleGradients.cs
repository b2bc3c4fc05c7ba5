using Surgeon.Compression;
using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// Per-sample gradients of the cross-entropy loss with respect to the prunable weights: row b of the result is
/// ∇_w cross_entropy(model(x_b), y_b), the prunable weights flattened row-major and concatenated in the order of the
/// given parameters (the order of <see cref="PrunableParameters.Discover"/>).
/// </summary>
/// <remarks>
/// The model is put into eval mode while the gradients are computed (BatchNorm in train mode mixes the samples of a
/// batch, so "the gradient of sample b" would depend on the other samples) and its previous mode is restored
/// afterwards. The result has the dtype of the weights (float32 for ordinary models) and lives on the inputs' device.
/// No parameter's <c>.grad</c> is touched.
/// </remarks>
internal static class PerSampleGradients
{
    /// <summary>
    /// The fast rule: one forward and one backward of the summed loss. A forward hook on every prunable Linear and
    /// Conv2d layer captures the layer's input and output; the gradient of the summed loss with respect to each
    /// output is then, row by row, the gradient of that sample's own loss, and the per-sample weight gradient is a
    /// batched outer product (Linear) or a batched product with the unfolded input (Conv2d, any groups).
    /// Falls back to <see cref="ComputeByLoop"/> when that rule does not apply: a prunable weight that does not
    /// belong to a Linear/Conv2d layer of the model, a convolution with non-zero padding modes or string padding,
    /// or layers whose hooks did not run (a model that calls <c>layer.forward</c> instead of <c>layer.call</c>).
    /// </summary>
    public static Tensor Compute(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels)
    {
        Validate(parameters, inputs, labels);
        var rows = empty([inputs.shape[0], PrunableParameters.TotalCount(parameters)], parameters[0].Weight.dtype, inputs.device);
        try
        {
            ComputeInto(model, parameters, inputs, labels, rows);
            return rows;
        }
        catch
        {
            rows.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <see cref="Compute"/> written into <paramref name="rows"/> (B×d, e.g. a batch's rows of G), each element once
    /// where the layer allows: a Linear layer called once on [B, in] inputs, on the CPU, with <paramref name="rows"/>
    /// contiguous and of the weights' dtype (float32 or float64), gets its outer products δ_b a_bᵀ written straight into
    /// its columns of row b; other layers write their batched product into their columns (one copy), and the loop
    /// fallback copies its rows. <paramref name="rows"/> need not be initialised.
    /// </summary>
    public static void ComputeInto(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels, Tensor rows)
    {
        Validate(parameters, inputs, labels);
        long d = PrunableParameters.TotalCount(parameters);
        if (rows.dim() != 2 || rows.shape[0] != inputs.shape[0] || rows.shape[1] != d)
            throw new ArgumentException($"rows [{string.Join(", ", rows.shape)}] are not [{inputs.shape[0]}, {d}]", nameof(rows));
        bool wasTraining = model.training;
        model.eval();
        try
        {
            if (!TryFast(model, parameters, inputs, labels, rows))
            {
                using var loop = LoopCore(model, parameters, inputs, labels);
                rows.copy_(loop);
            }
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>The reference rule: one forward and one backward per sample. Slow but works for any model.</summary>
    public static Tensor ComputeByLoop(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels)
    {
        Validate(parameters, inputs, labels);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            return LoopCore(model, parameters, inputs, labels);
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>The fast rule only (model mode untouched); null where it does not apply. For tests.</summary>
    internal static Tensor? TryComputeFast(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels)
    {
        Validate(parameters, inputs, labels);
        var rows = empty([inputs.shape[0], PrunableParameters.TotalCount(parameters)], parameters[0].Weight.dtype, inputs.device);
        if (TryFast(model, parameters, inputs, labels, rows)) return rows;
        rows.Dispose();
        return null;
    }

    private static void Validate(IReadOnlyList<PrunableParameter> parameters, Tensor inputs, Tensor labels)
    {
        if (parameters.Count == 0)
            throw new ArgumentException("no prunable parameters given", nameof(parameters));
        if (inputs.dim() < 1 || labels.dim() != 1 || inputs.shape[0] != labels.shape[0])
            throw new ArgumentException(
                $"inputs [{string.Join(", ", inputs.shape)}] and labels [{string.Join(", ", labels.shape)}] do not describe one batch");
    }

    private static Tensor LoopCore(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels)
    {
        using var gradMode = enable_grad();
        long b = inputs.shape[0];
        long d = PrunableParameters.TotalCount(parameters);
        var weights = parameters.Select(p => (Tensor)p.Weight).ToList();
        var result = zeros([b, d], parameters[0].Weight.dtype, inputs.device);
        for (long n = 0; n < b; n++)
        {
            using var scope = NewDisposeScope();
            var output = model.call(inputs.narrow(0, n, 1));
            var loss = nn.functional.cross_entropy(output, labels.narrow(0, n, 1));
            var grads = autograd.grad([loss], weights, allow_unused: true);
            var row = result[n];
            long offset = 0;
            for (int i = 0; i < weights.Count; i++)
            {
                long count = parameters[i].Count;
                if (grads[i] is { } g && g.numel() == count)
                    row.narrow(0, offset, count).copy_(g.flatten());
                offset += count;
            }
        }
        return result;
    }

    /// <summary>How a captured layer call turns into per-sample weight gradients.</summary>
    private sealed record LayerCall(int ParameterIndex, Tensor Input, Tensor Output);

    /// <summary>The fast rule into <paramref name="result"/>; false (result partly written) where it does not apply.</summary>
    private static bool TryFast(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        Tensor inputs, Tensor labels, Tensor result)
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
                    if (layers[i] is not null) return false; // one weight in two layers: leave it to the loop
                    layers[i] = (nn.Module<Tensor, Tensor>)module;
                }
        }
        if (layers.Any(l => l is null)) return false;
        foreach (var layer in layers)
            if (layer is Conv2d conv && !ConvSupported(conv))
                return false;

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
            if (seen.Any(s => !s)) return false; // some layer was run without its hooks
            var usable = calls.Where(c => c.Output.requires_grad).ToList();
            if (logits.dim() != 2 || logits.shape[0] != inputs.shape[0]) return false;

            var loss = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum);
            var gradOutputs = usable.Count == 0
                ? []
                : autograd.grad([loss], usable.Select(c => c.Output).ToList(), allow_unused: true);

            long b = inputs.shape[0];
            var offsets = new long[parameters.Count];
            for (int i = 1; i < parameters.Count; i++) offsets[i] = offsets[i - 1] + parameters[i - 1].Count;
            var direct = new List<OuterProducts>();
            var written = new bool[parameters.Count];
            for (int k = 0; k < usable.Count; k++)
            {
                var call = usable[k];
                if (gradOutputs[k] is not { } gradOut || gradOut.Handle == IntPtr.Zero) continue;
                int p = call.ParameterIndex;
                var columns = result.narrow(1, offsets[p], parameters[p].Count);
                bool onlyCall = usable.Count(c => c.ParameterIndex == p) == 1;
                if (onlyCall && layers[p] is Linear && OuterProducts.Of(call.Input, gradOut, parameters[p].Shape, b, offsets[p], result) is { } outer)
                {
                    direct.Add(outer);   // written below, straight into the rows
                    written[p] = true;
                    continue;
                }
                using var layerScope = NewDisposeScope();
                var contribution = layers[p] switch
                {
                    Linear => LinearRule(call.Input, gradOut, parameters[p].Shape, b),
                    Conv2d conv => ConvRule(conv, call.Input, gradOut, parameters[p].Shape, b),
                    _ => null,
                };
                if (contribution is null) return false;
                // A layer called more than once adds up its calls' contributions.
                if (written[p]) columns.add_(contribution, HeldScalars.One);
                else columns.copy_(contribution);
                written[p] = true;
            }
            for (int p = 0; p < parameters.Count; p++)
                if (!written[p]) result.narrow(1, offsets[p], parameters[p].Count).zero_(); // no gradient reaches it
            OuterProducts.Write(direct, result);
            return true;
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
