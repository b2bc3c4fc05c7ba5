using System.Globalization;
using Surgeon.Compression;
using Surgeon.Selection.Projections;

namespace Surgeon.Modifiers;

/// <summary>One constraint of one layer under ADMM: the set S (a projection and how many groups it keeps).</summary>
internal sealed record AdmmConstraint(IProjection Projection, KeepTarget Keep);

/// <summary>
/// Which constraints ADMM puts on each prunable layer: a default projection and keep ratio, overridden per layer by
/// name ("conv2.weight=0.1, fc1.weight=0.05"; the ".weight" may be left out). A projection joined by '+'
/// (filters+columns) is one constraint per part, each keeping that layer's ratio of its own groups.
/// </summary>
internal sealed class AdmmLayerPlan
{
    public required string Projection { get; init; }
    public required double KeepRatio { get; init; }
    public IReadOnlyDictionary<string, string> LayerProjections { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, double> LayerKeepRatios { get; init; } = new Dictionary<string, double>();

    /// <summary>Checks what needs no model: projection names and ratios in (0, 1].</summary>
    public void Validate()
    {
        Projections.Parse(Projection);
        KeepTarget.OfRatio(KeepRatio);
        foreach (var (name, p) in LayerProjections)
            Wrap(name, () => Projections.Parse(p));
        foreach (var (name, r) in LayerKeepRatios)
            Wrap(name, () => KeepTarget.OfRatio(r));
    }

    /// <summary>The constraints of every layer; a layer name that matches no prunable weight, or a projection that
    /// does not fit its layer (channels of a linear layer, a tile larger than the matrix), is a one-line error.</summary>
    public IReadOnlyList<IReadOnlyList<AdmmConstraint>> For(IReadOnlyList<PrunableParameter> parameters)
    {
        var names = parameters.Select(p => p.Name).ToList();
        foreach (var key in LayerProjections.Keys.Concat(LayerKeepRatios.Keys))
            if (Resolve(key, names) is null)
                throw new SurgeonException($"ADMM: no prunable layer '{key}' (layers: {string.Join(", ", names)})");
        var result = new List<IReadOnlyList<AdmmConstraint>>();
        foreach (var p in parameters)
        {
            string projection = TryLookup(LayerProjections, p.Name, names, out var lp) ? lp : Projection;
            double ratio = TryLookup(LayerKeepRatios, p.Name, names, out var lr) ? lr : KeepRatio;
            var keep = KeepTarget.OfRatio(ratio);
            var constraints = new List<AdmmConstraint>();
            foreach (var proj in Projections.Parse(projection))
            {
                long groups = proj.GroupCount(p.Shape, p.Name); // throws when the structure does not fit the layer
                keep.GroupsToKeep(groups, $"{p.Name} ({proj.Name})");
                constraints.Add(new AdmmConstraint(proj, keep));
            }
            result.Add(constraints);
        }
        return result;
    }

    /// <summary>Parses "name=value, name=value" (a recipe field) with <paramref name="parse"/> for each value.</summary>
    public static Dictionary<string, T> ParseLayerMap<T>(string text, Func<string, T> parse)
    {
        var map = new Dictionary<string, T>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new SurgeonException($"'{part}' is not LAYER=VALUE (e.g. conv2.weight=0.1)");
            string name = part[..eq].Trim();
            if (!map.TryAdd(name, Wrap(name, () => parse(part[(eq + 1)..].Trim()))))
                throw new SurgeonException($"layer '{name}' is given twice");
        }
        return map;
    }

    public static double ParseRatio(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v)
            ? KeepTarget.OfRatio(v).Ratio!.Value
            : throw new SurgeonException($"'{text}' is not a number");

    private static string? Resolve(string key, List<string> names) =>
        names.Contains(key) ? key : names.Contains(key + ".weight") ? key + ".weight" : null;

    private static bool TryLookup<T>(IReadOnlyDictionary<string, T> map, string name, List<string> names, out T value)
    {
        foreach (var (key, v) in map)
            if (Resolve(key, names) == name)
            {
                value = v;
                return true;
            }
        value = default!;
        return false;
    }

    private static T Wrap<T>(string layer, Func<T> f)
    {
        try
        {
            return f();
        }
        catch (SurgeonException e)
        {
            throw new SurgeonException($"{layer}: {e.Message}", e);
        }
    }
}
