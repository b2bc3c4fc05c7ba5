using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// Masks filters in place: zeroes their slices of every producer weight and bias and their BatchNorm γ and β entries, so
/// the group's channel outputs are exactly zero (with γ = β = 0 a BatchNorm outputs 0 whatever its statistics). This is
/// how non-removable groups (ResNet's residual stream) are pruned, and a model masked this way computes what the
/// model with those channels removed computes.
/// </summary>
internal static class FilterMasking
{
    /// <summary>The β (bias) parameter name of a BatchNorm whose γ is named <paramref name="normWeight"/> ("x.weight").</summary>
    public static string NormBias(string normWeight) =>
        normWeight.EndsWith(".weight", StringComparison.Ordinal)
            ? normWeight[..^".weight".Length] + ".bias"
            : throw new ArgumentException($"'{normWeight}' is not a BatchNorm weight name", nameof(normWeight));

    public static void Zero(nn.Module model, FilterGroup group, IReadOnlyList<long> channels)
    {
        if (channels.Count == 0) return;
        if (channels.Any(c => c < 0 || c >= group.Channels))
            throw new SurgeonException($"filter group {group.Name}: channels to mask must be inside 0..{group.Channels - 1}");
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Parameter Find(string name) => parameters.TryGetValue(name, out var p)
            ? p
            : throw new InvalidOperationException($"filter group {group.Name} names parameter {name}, which the model does not have");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var names = group.Producers.Concat(group.Biases).Concat(group.Norms).Concat(group.Norms.Select(NormBias));
        foreach (string name in names)
        {
            var p = Find(name);
            using var index = tensor(channels.ToArray(), ScalarType.Int64, p.device);
            p.index_fill_(0, index, HeldScalars.Of(0));
        }
    }
}
