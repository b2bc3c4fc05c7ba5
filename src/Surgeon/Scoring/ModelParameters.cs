using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>Looks up parameters by their <c>named_parameters</c> names, with errors that name what is missing.</summary>
internal static class ModelParameters
{
    public static IReadOnlyList<Parameter> Resolve(nn.Module model, IReadOnlyList<string> names)
    {
        var all = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        return names.Select(n => all.TryGetValue(n, out var p)
            ? p
            : throw new SurgeonException($"the model has no parameter '{n}' (it has {string.Join(", ", all.Keys)})")).ToList();
    }

    /// <summary>All parameters that require gradients, in <c>named_parameters</c> order (θ of the gradient-flow paper).</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> Trainable(nn.Module model)
    {
        var list = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        if (list.Count == 0)
            throw new SurgeonException("the model has no trainable parameters");
        return list;
    }

    /// <summary>The floating dtype of the model's parameters (inputs are converted to it).</summary>
    public static ScalarType FloatType(nn.Module model) =>
        model.parameters().Select(p => p.dtype).FirstOrDefault(
            t => t is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16, ScalarType.Float32);
}
