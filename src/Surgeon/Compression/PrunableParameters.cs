using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Compression;

/// <summary>A weight tensor that pruning may zero: the weight of a Linear or Conv2d layer (never biases or norms).</summary>
public sealed record PrunableParameter(string Name, Parameter Weight)
{
    /// <summary>Number of weights.</summary>
    public long Count => Weight.numel();
    /// <summary>The weight's shape.</summary>
    public long[] Shape => Weight.shape;
}

internal static class PrunableParameters
{
    /// <summary>
    /// The prunable weights of <paramref name="model"/>, in module order (the order every flat vector uses): every
    /// Linear and Conv2d weight, or with <see cref="PrunableSet.Paper"/> the subset the model names as the papers' set.
    /// </summary>
    public static IReadOnlyList<PrunableParameter> Discover(nn.Module model, PrunableSet set = PrunableSet.All)
    {
        var result = new List<PrunableParameter>();
        var paper = set == PrunableSet.Paper ? model as IHasPaperPrunableSet : null;
        foreach (var (name, module) in model.named_modules())
        {
            if (paper is not null && !paper.IsPaperPrunable(name)) continue;
            Parameter? weight = module switch
            {
                Linear l => l.weight,
                Conv2d c => c.weight,
                _ => null,
            };
            if (weight is not null)
                result.Add(new PrunableParameter(string.IsNullOrEmpty(name) ? "weight" : $"{name}.weight", weight));
        }
        if (result.Count == 0)
            throw new SurgeonException("the model has no prunable (Linear or Conv2d) weights");
        return result;
    }

    /// <summary>Parses a prunable-set name: paper or all.</summary>
    public static PrunableSet ParseSet(string text) => text.Trim().ToLowerInvariant() switch
    {
        "paper" => PrunableSet.Paper,
        "all" => PrunableSet.All,
        _ => throw new SurgeonException($"unknown prunable set '{text}': use paper (the CBS/WoodFisher papers' layers) or all (every Linear and Conv2d weight)"),
    };

    /// <summary>Whether the two sets name the same weights in <paramref name="model"/> (true for models without a paper subset).</summary>
    public static bool SameInBoth(nn.Module model) => model is not IHasPaperPrunableSet
        || Discover(model, PrunableSet.Paper).Count == Discover(model, PrunableSet.All).Count;

    public static long TotalCount(IReadOnlyList<PrunableParameter> parameters) => parameters.Sum(p => p.Count);

    /// <summary>All prunable weights concatenated into one flat vector (a copy).</summary>
    public static Tensor Flatten(IReadOnlyList<PrunableParameter> parameters)
    {
        using var _ = no_grad();
        return cat(parameters.Select(p => p.Weight.detach().flatten()).ToList(), 0);
    }

    /// <summary>Writes a flat vector back into the prunable weights (the inverse of <see cref="Flatten"/>).</summary>
    public static void Assign(IReadOnlyList<PrunableParameter> parameters, Tensor flat)
    {
        long total = TotalCount(parameters);
        if (flat.numel() != total)
            throw new ArgumentException($"flat vector has {flat.numel()} entries, the model has {total} prunable weights");
        using var _ = no_grad();
        long offset = 0;
        foreach (var p in parameters)
        {
            p.Weight.copy_(flat.narrow(0, offset, p.Count).view(p.Shape));
            offset += p.Count;
        }
    }
}
