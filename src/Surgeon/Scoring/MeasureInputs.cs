using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>Small shared steps of the measures: reading weights detached, pairing them with other values.</summary>
internal static class MeasureInputs
{
    /// <summary>θ of each named parameter, detached (a view, not a copy: do not modify).</summary>
    public static IReadOnlyList<Tensor> Weights(nn.Module model, IReadOnlyList<string> names) =>
        ModelParameters.Resolve(model, names).Select(p => p.detach()).ToList();

    /// <summary>Pairs each name with f(θ, other[name]), in the caller's dispose scope.</summary>
    public static IReadOnlyDictionary<string, Tensor> Combine(nn.Module model, IReadOnlyList<string> names,
        IReadOnlyDictionary<string, Tensor> other, Func<Tensor, Tensor, Tensor> f)
    {
        var weights = Weights(model, names);
        var result = new Dictionary<string, Tensor>();
        for (int i = 0; i < names.Count; i++)
            result[names[i]] = f(weights[i], other[names[i]]).detach();
        return result;
    }
}
