using Surgeon.Selection;

namespace Surgeon.Pruning;

/// <summary>The pruning methods by name, as <c>--method</c> and <c>--methods</c> accept them.</summary>
public static class PruningMethods
{
    private static readonly List<PruningMethod> All =
    [
        new("mp", "global magnitude: prune the smallest |w| over all layers", new MagnitudeSelection(layerWise: false)),
        new("lmp", "layer-wise magnitude: prune the same fraction of each layer by |w|", new MagnitudeSelection(layerWise: true)),
    ];

    public static IReadOnlyList<PruningMethod> Known => All;

    public static PruningMethod Get(string name) =>
        All.FirstOrDefault(m => m.Name.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new SurgeonException($"unknown pruning method '{name}': known methods are {string.Join(", ", All.Select(m => m.Name))}");

    /// <summary>Parses a comma-separated list, rejecting unknown and repeated names.</summary>
    public static IReadOnlyList<PruningMethod> Parse(string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0)
            throw new SurgeonException("no pruning method given");
        var methods = names.Select(Get).ToList();
        var repeated = methods.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
            throw new SurgeonException($"method '{repeated.Key}' is listed twice");
        return methods;
    }
}
