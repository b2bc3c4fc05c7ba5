using Surgeon.Data;
using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// The two gradient quantities of the gradient-flow paper over a sample of training data: the mean gradient
/// ḡ = (1/N) Σₙ ∇ℓₙ of the cross-entropy and the Hessian-vector product Hv = (1/N) Σₙ ∇²ℓₙ v (Hḡ when v = ḡ).
/// </summary>
/// <remarks>
/// The model runs in eval mode (restored afterwards): BatchNorm then uses its running statistics, so ℓₙ depends on
/// sample n alone, the average does not depend on the batch size, and no running statistic is updated. Logits are
/// divided by the temperature T before the loss (GraSP's T_H; 1 leaves them as they are). Inputs are converted to the
/// model's dtype. Parameters the loss does not reach get zero. No <c>.grad</c> is touched.
/// </remarks>
internal static class LossGradients
{
    /// <summary>ḡ for each of <paramref name="parameters"/>, shaped like it, in the caller's dispose scope.</summary>
    public static Tensor[] Mean(nn.Module<Tensor, Tensor> model, IReadOnlyList<Tensor> parameters, ScoringData data,
        double temperature = 1.0)
    {
        var sums = Zeros(parameters);
        using var mode = new EvalMode(model);
        using var gradMode = enable_grad();
        for (int b = 0; b < data.BatchCount; b++)
        {
            using var scope = NewDisposeScope();
            var loss = SummedLoss(model, data, b, temperature);
            var grads = autograd.grad([loss], parameters.ToList(), allow_unused: true);
            for (int i = 0; i < sums.Length; i++)
                if (IsDefined(grads[i])) sums[i].add_(grads[i], HeldScalars.One);
        }
        return Average(sums, data.SampleCount);
    }

    /// <summary>
    /// Hv: per batch, the double backward of z = ⟨stopgrad(v), ∇ℓ⟩ with respect to the parameters
    /// (∇_θ z = ∇²ℓ v because v is held constant), summed over batches and divided by N.
    /// </summary>
    public static Tensor[] HessianTimes(nn.Module<Tensor, Tensor> model, IReadOnlyList<Tensor> parameters,
        IReadOnlyList<Tensor> vector, ScoringData data, double temperature = 1.0)
    {
        if (vector.Count != parameters.Count)
            throw new ArgumentException($"{vector.Count} vector blocks for {parameters.Count} parameters", nameof(vector));
        for (int i = 0; i < parameters.Count; i++)
            if (!vector[i].shape.SequenceEqual(parameters[i].shape))
                throw new ArgumentException(
                    $"vector block {i} is [{string.Join(", ", vector[i].shape)}], its parameter [{string.Join(", ", parameters[i].shape)}]");
        var sums = Zeros(parameters);
        using var mode = new EvalMode(model);
        using var gradMode = enable_grad();
        for (int b = 0; b < data.BatchCount; b++)
        {
            using var scope = NewDisposeScope();
            var loss = SummedLoss(model, data, b, temperature);
            // create_graph so that ∇ℓ can itself be differentiated; libtorch needs retain_graph alongside it.
            var grads = autograd.grad([loss], parameters.ToList(), create_graph: true, retain_graph: true, allow_unused: true);
            Tensor? z = null;
            for (int i = 0; i < grads.Count; i++)
            {
                if (!IsDefined(grads[i]) || !grads[i].requires_grad) continue; // constant in θ: no curvature term
                var term = grads[i].mul(vector[i].detach().to_type(grads[i].dtype)).sum();
                z = z is null ? term : z.add(term, HeldScalars.One);
            }
            if (z is null) continue;
            var hv = autograd.grad([z], parameters.ToList(), allow_unused: true);
            for (int i = 0; i < sums.Length; i++)
                if (IsDefined(hv[i])) sums[i].add_(hv[i], HeldScalars.One);
        }
        return Average(sums, data.SampleCount);
    }

    /// <summary>ḡ of the named parameters only (ḡ is elementwise, so it does not depend on which others are included).</summary>
    public static IReadOnlyDictionary<string, Tensor> MeanOf(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> names, ScoringData data, double temperature = 1.0)
    {
        var g = Mean(model, ModelParameters.Resolve(model, names).Cast<Tensor>().ToList(), data, temperature);
        return names.Select((n, i) => (n, g[i])).ToDictionary(p => p.n, p => p.Item2);
    }

    /// <summary>
    /// (Hḡ) restricted to the named parameters, with ḡ and H over all trainable parameters: (Hḡ)_p = Σ_q H_pq ḡ_q
    /// needs every ḡ_q, not just those of the parameters being scored.
    /// </summary>
    public static IReadOnlyDictionary<string, Tensor> HessianGradientOf(nn.Module<Tensor, Tensor> model,
        IReadOnlyList<string> names, ScoringData data, double temperature = 1.0)
    {
        using var scope = NewDisposeScope();
        var trainable = ModelParameters.Trainable(model);
        var theta = trainable.Select(p => (Tensor)p.Parameter).ToList();
        var g = Mean(model, theta, data, temperature);
        var hg = HessianTimes(model, theta, g, data, temperature);
        var index = trainable.Select((p, i) => (p.Name, i)).ToDictionary(p => p.Name, p => p.i);
        var result = new Dictionary<string, Tensor>();
        foreach (var name in names)
        {
            if (!index.TryGetValue(name, out int i))
                throw new SurgeonException($"parameter '{name}' is not a trainable parameter of the model");
            result[name] = hg[i].MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>Σ over the batch of cross_entropy(model(x)/T, y), with shape checks (libtorch aborts on bad shapes).</summary>
    internal static Tensor SummedLoss(nn.Module<Tensor, Tensor> model, ScoringData data, int batch, double temperature)
    {
        if (!(temperature > 0))
            throw new SurgeonException($"temperature must be positive, got {temperature}");
        var (x, y) = data.Batch(batch);
        var dtype = ModelParameters.FloatType(model);
        if (x.dtype != dtype) x = x.to_type(dtype);
        var logits = model.call(x);
        if (logits.dim() != 2 || logits.shape[0] != y.shape[0])
            throw new SurgeonException(
                $"model output [{string.Join(", ", logits.shape)}] is not [batch {y.shape[0]}, classes]");
        long maxLabel = y.max().item<long>(), minLabel = y.min().item<long>();
        if (minLabel < 0 || maxLabel >= logits.shape[1])
            throw new SurgeonException($"labels {minLabel}..{maxLabel} do not fit the model's {logits.shape[1]} outputs");
        if (temperature != 1.0) logits = logits.div(HeldScalars.Of(temperature));
        return nn.functional.cross_entropy(logits, y, reduction: nn.Reduction.Sum);
    }

    internal static bool IsDefined(Tensor? t) => t is not null && t.Handle != IntPtr.Zero;

    private static Tensor[] Zeros(IReadOnlyList<Tensor> parameters)
    {
        if (parameters.Count == 0)
            throw new ArgumentException("no parameters given", nameof(parameters));
        return parameters.Select(p => zeros(p.shape, p.dtype, p.device)).ToArray();
    }

    private static Tensor[] Average(Tensor[] sums, int n)
    {
        foreach (var s in sums) s.div_(HeldScalars.Of(n));
        return sums;
    }
}
