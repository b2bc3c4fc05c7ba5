using System.Globalization;

namespace Surgeon.Selection.Projections;

/// <summary>
/// The projections by name, as a recipe names them: <c>unstructured</c>, <c>filters</c>, <c>columns</c> (alias
/// <c>shapes</c>), <c>channels</c>, <c>crossbar:RxC</c> (tiles of R rows × C columns of the F × C·k·k matrix), and
/// several joined by '+' (<c>filters+columns</c>), one projection per constraint, each with its own Z/U pair
/// (<see cref="CombinedConstraints"/>).
/// </summary>
internal static class Projections
{
    public static readonly IReadOnlyList<string> Names = ["unstructured", "filters", "columns", "channels", "crossbar:RxC"];

    public static IReadOnlyList<IProjection> Parse(string text)
    {
        var parts = (text ?? "").Split('+', StringSplitOptions.TrimEntries);
        if (parts.Any(p => p.Length == 0))
            throw new SurgeonException($"projection '{text}' has an empty part: use {string.Join(", ", Names)}, or several joined by '+'");
        var projections = parts.Select(One).ToList();
        var repeated = projections.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
            throw new SurgeonException($"projection '{text}' names {repeated.Key} twice");
        return projections;
    }

    private static IProjection One(string name)
    {
        string lower = name.ToLowerInvariant();
        switch (lower)
        {
            case "unstructured": return new UnstructuredProjection();
            case "filters": return new FilterProjection();
            case "columns" or "shapes": return new ColumnProjection();
            case "channels": return new ChannelProjection();
        }
        if (lower.StartsWith("crossbar:", StringComparison.Ordinal))
        {
            var size = lower["crossbar:".Length..].Split('x');
            if (size.Length == 2
                && long.TryParse(size[0], NumberStyles.None, CultureInfo.InvariantCulture, out long rows)
                && long.TryParse(size[1], NumberStyles.None, CultureInfo.InvariantCulture, out long columns))
                return new CrossbarBlockProjection(rows, columns);
            throw new SurgeonException($"projection '{name}': a crossbar tile is written crossbar:RxC with positive integers, e.g. crossbar:64x128");
        }
        throw new SurgeonException($"unknown projection '{name}': known projections are {string.Join(", ", Names)}");
    }
}
