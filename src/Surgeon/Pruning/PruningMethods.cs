using Surgeon.Selection;
using Surgeon.Update;

namespace Surgeon.Pruning;

/// <summary>The pruning methods by name, as <c>--method</c> and <c>--methods</c> accept them.</summary>
public static class PruningMethods
{
    private static readonly List<PruningMethod> All =
    [
        new("mp", "global magnitude: prune the smallest |w| over all layers", new MagnitudeSelection(layerWise: false)),
        new("lmp", "layer-wise magnitude: prune the same fraction of each layer by |w| (⌊s·d⌋ in all, the rounding spread by largest remainder)", new MagnitudeSelection(layerWise: true)),
        new("wf-s", "WoodFisher selection: prune the smallest OBS saliency w²/(2[F⁻¹]_qq), no weight update", new WoodFisherSelection()),
        new("wf", "WoodFisher: WF-S selection plus the OBS update of the kept weights", new WoodFisherSelection(), new ObsUpdate()),
        new("cbs-s", "Combinatorial Brain Surgeon selection: minimise the joint loss f(P) of the pruned set, no update", new CbsSelection()),
        new("cbs", "Combinatorial Brain Surgeon: CBS-S selection plus the CBS-U multi-weight update", new CbsSelection(), new CbsUpdate()),
        new("mp+cbs-u", "global magnitude selection plus the CBS-U update", new MagnitudeSelection(layerWise: false), new CbsUpdate()),
        new("wf-s+cbs-u", "WoodFisher selection plus the CBS-U update", new WoodFisherSelection(), new CbsUpdate()),
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
