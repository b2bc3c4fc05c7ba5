using Surgeon.Pruning;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Surgeon.IO;
using Surgeon.Training;

namespace Surgeon.Reports;

/// <summary>The results of a sweep as a Markdown table, CSV and JSON (all written atomically).</summary>
/// <param name="dense">The unpruned model's test result; null when it is not known (a report rebuilt from a sweep's
/// points.jsonl alone, which records only the pruned points): the table then has no dense row and the plot no dense line.</param>
internal sealed class SweepReport(EvalResult? dense, IReadOnlyList<SweepPoint> points, IReadOnlyDictionary<string, string> config)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public EvalResult? Dense => dense;
    public IReadOnlyList<SweepPoint> Points => points;
    public IReadOnlyDictionary<string, string> Config => config;
    public IReadOnlyList<SweepSummary> Summary { get; } = SweepSummary.Aggregate(points);

    public IReadOnlyList<string> Methods => points.Select(p => p.Method).Distinct().ToList();
    public IReadOnlyList<double> Sparsities => points.Select(p => p.Sparsity).Distinct().Order().ToList();

    /// <summary>Accuracy (%) table: a row per sparsity, a column per method, mean ± std over seeds.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append("| sparsity | ").AppendJoin(" | ", Methods).Append(" |\n");
        sb.Append("|---|").Append(string.Concat(Methods.Select(_ => "---|"))).Append('\n');
        if (dense is not null)
            sb.Append("| dense | ").AppendJoin(" | ", Methods.Select(_ => (100 * dense.Accuracy).ToString("F2", Inv))).Append(" |\n");
        foreach (double s in Sparsities)
        {
            sb.Append("| ").Append(s.ToString("0.###", Inv)).Append(" | ");
            sb.AppendJoin(" | ", Methods.Select(m => Cell(m, s))).Append(" |\n");
        }
        return sb.ToString();
    }

    public string Cell(string method, double sparsity)
    {
        var row = Summary.FirstOrDefault(r => r.Method == method && r.Sparsity == sparsity);
        if (row is null) return "–";
        return row.Seeds > 1
            ? $"{(100 * row.AccuracyMean).ToString("F2", Inv)} ± {(100 * row.AccuracyStd).ToString("F2", Inv)}"
            : (100 * row.AccuracyMean).ToString("F2", Inv);
    }

    public string ToCsv()
    {
        var sb = new StringBuilder("method,sparsity,seed,actual_sparsity,accuracy,loss,seconds\n");
        foreach (var p in points.OrderBy(p => p.Method).ThenBy(p => p.Sparsity).ThenBy(p => p.Seed))
            sb.Append(Inv, $"{p.Method},{p.Sparsity:R},{p.Seed},{p.ActualSparsity:R},{p.Accuracy:R},{p.Loss:R},{p.Seconds:F3}\n");
        return sb.ToString();
    }

    public string ToSummaryCsv()
    {
        var sb = new StringBuilder("method,sparsity,seeds,accuracy_mean,accuracy_std,loss_mean,loss_std,actual_sparsity\n");
        foreach (var r in Summary.OrderBy(r => r.Method).ThenBy(r => r.Sparsity))
            sb.Append(Inv, $"{r.Method},{r.Sparsity:R},{r.Seeds},{r.AccuracyMean:R},{r.AccuracyStd:R},{r.LossMean:R},{r.LossStd:R},{r.ActualSparsity:R}\n");
        return sb.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        config,
        dense = dense is null ? null : new { accuracy = dense.Accuracy, loss = dense.Loss },
        summary = Summary,
        points,
    }, new JsonSerializerOptions(SweepResults.Json) { WriteIndented = true }); // NaN (an unknown dense loss) and ∞ as strings

    /// <summary>The files <see cref="WriteAll"/> writes into its folder.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["sweep.md", "sweep.csv", "summary.csv", "sweep.json", "sweep.png"];

    /// <summary>Writes sweep.md, sweep.csv, summary.csv, sweep.json and sweep.png into <paramref name="folder"/>, all or none.</summary>
    public IReadOnlyList<string> WriteAll(string folder, string plotTitle = SweepPlot.DefaultTitle)
    {
        // Nothing is written for a point no sweep can produce (a loss of +∞ or NaN is a result; see JsonNumbers).
        foreach (var p in points)
            if (p.Problem() is { } problem)
                throw new SurgeonException($"cannot write the sweep report to {folder}: {p.Describe()} is impossible: {problem}");
        if (dense is not null && IO.JsonNumbers.First(IO.JsonNumbers.Fraction("its accuracy", dense.Accuracy), IO.JsonNumbers.Loss("its loss", dense.Loss)) is { } bad)
            throw new SurgeonException($"cannot write the sweep report to {folder}: the dense result is impossible: {bad}");
        using var files = new AtomicFileSet();
        files.WriteText(Path.Combine(folder, "sweep.md"), ToMarkdown());
        files.WriteText(Path.Combine(folder, "sweep.csv"), ToCsv());
        files.WriteText(Path.Combine(folder, "summary.csv"), ToSummaryCsv());
        files.WriteText(Path.Combine(folder, "sweep.json"), ToJson());
        files.WriteVia(Path.Combine(folder, "sweep.png"), temp => SweepPlot.Write(temp, this, plotTitle));
        files.Commit();
        return FileNames.Select(name => Path.Combine(folder, name)).ToList();
    }
}
