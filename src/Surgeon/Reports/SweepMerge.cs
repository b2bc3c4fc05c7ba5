using Surgeon.Pruning;
using System.Globalization;
using Surgeon.Training;

namespace Surgeon.Reports;

/// <summary>
/// Puts the results of one or more sweeps of the same dense model (e.g. methods run separately, in several folders)
/// into one <see cref="SweepReport"/>, so one table and one plot show them all.
/// </summary>
internal static class SweepMerge
{
    /// <param name="sources">Each sweep's results, with an optional label that is appended to its method names
    /// ("mp (label)"), to tell apart sweeps that ran the same method.</param>
    /// <param name="denseAccuracy">The dense accuracy to report when no source records it (journals do not).</param>
    public static SweepReport Merge(IReadOnlyList<(string? Label, SweepResults Results)> sources, double? denseAccuracy = null)
    {
        if (sources.Count == 0)
            throw new SurgeonException("no sweep results to report; give at least one sweep folder, sweep.json or points.jsonl");
        if (denseAccuracy is { } given && !(given >= 0 && given <= 1))
            throw new SurgeonException($"--dense-accuracy must be a fraction in [0, 1] (e.g. 0.943 for 94.3 %), got {given.ToString(CultureInfo.InvariantCulture)}");

        var points = new List<SweepPoint>();
        var origin = new Dictionary<(string, double, int), string>();
        foreach (var (label, results) in sources)
        {
            foreach (var p in results.Points)
            {
                var point = string.IsNullOrEmpty(label) ? p : p with { Method = $"{p.Method} ({label})" };
                var id = (point.Method, point.Sparsity, point.Seed);
                if (origin.TryGetValue(id, out var first))
                    throw new SurgeonException($"{first} and {results.Source} both hold {point.Method} at sparsity {point.Sparsity.ToString(CultureInfo.InvariantCulture)} (seed {point.Seed}); " +
                        "label them (LABEL=PATH) to keep them apart");
                origin[id] = results.Source;
                points.Add(point);
            }
        }
        return new SweepReport(Dense(sources, denseAccuracy), points, Config(sources));
    }

    /// <summary>The one dense result the sources agree on (one plot has one dense line), or the given accuracy.</summary>
    private static EvalResult? Dense(IReadOnlyList<(string? Label, SweepResults Results)> sources, double? denseAccuracy)
    {
        var known = sources.Where(s => s.Results.Dense is not null).Select(s => s.Results).ToList();
        if (known.Count == 0)
            return denseAccuracy is { } a ? new EvalResult(a, double.NaN, 0) : null;
        var first = known[0];
        if (denseAccuracy is not null)
            throw new SurgeonException($"{first.Source} records the dense accuracy ({Percent(first.Dense!.Accuracy)}); drop --dense-accuracy");
        var other = known.FirstOrDefault(r => r.Dense!.Accuracy != first.Dense!.Accuracy);
        if (other is not null)
            throw new SurgeonException($"{first.Source} has a dense accuracy of {Percent(first.Dense!.Accuracy)} but {other.Source} {Percent(other.Dense!.Accuracy)}: " +
                "they prune different models (or evaluate on different data), and one plot has one dense line; report them separately");
        return first.Dense;
    }

    private static Dictionary<string, string> Config(IReadOnlyList<(string? Label, SweepResults Results)> sources)
    {
        if (sources.Count == 1)
            return new Dictionary<string, string>(sources[0].Results.Config) { ["source"] = Path.GetFullPath(sources[0].Results.Source) };
        return new Dictionary<string, string>
        {
            ["sources"] = string.Join("; ", sources.Select(s => (string.IsNullOrEmpty(s.Label) ? "" : s.Label + "=") + Path.GetFullPath(s.Results.Source))),
        };
    }

    private static string Percent(double accuracy) => (100 * accuracy).ToString("F2", CultureInfo.InvariantCulture) + " %";
}
