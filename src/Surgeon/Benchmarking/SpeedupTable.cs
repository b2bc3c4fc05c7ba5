using System.Globalization;
using System.Text;

namespace Surgeon.Benchmarking;

/// <summary>
/// A <see cref="SpeedupResult"/> as one Markdown table (a row per model and a row of dense ÷ pruned ratios, the
/// theoretical speedup beside the measured ones) and as CSV (one row per model, runtime and batch size).
/// </summary>
internal static class SpeedupTable
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>How it was measured, in one line above the table.</summary>
    public static string Setup(SpeedupResult r) =>
        $"{r.Dense.Spec.Architecture} on {r.Dense.Spec.InputShapeText} inputs: eval-mode inference, median of {r.Runs} timed run(s) after " +
        $"{r.Warmup} warm-up run(s), dense and pruned alternating, {r.Threads} intra-op thread(s) per runtime, " +
        $"the same random batch (seed {r.Seed}) for both; milliseconds per batch.";

    /// <summary>Why an unstructured model shows no measured speedup, under the table; null for a model that shrank.</summary>
    public static string? Note(SpeedupResult r) => r.SameShape
        ? "The pruned model has the dense model's layer sizes (its zeros are unstructured): dense kernels multiply its zeros " +
          "like any other weight, so the measured speedup stays near 1× and the theoretical speedup needs a sparse kernel."
        : null;

    public static string ToMarkdown(SpeedupResult r)
    {
        var sb = new StringBuilder();
        sb.Append("| model | checkpoint | params | nonzero params | FLOPs | nonzero FLOPs | theoretical speedup |");
        foreach (var l in r.Latencies) sb.Append(Inv, $" {l.Runtime}, batch {l.Batch} (ms) |");
        sb.Append("\n|---|---|--:|--:|--:|--:|--:|").Append(string.Concat(r.Latencies.Select(_ => "--:|"))).Append('\n');
        foreach (var (model, times) in new[] { (r.Dense, r.Latencies.Select(l => l.DenseMedianMs)), (r.Pruned, r.Latencies.Select(l => l.PrunedMedianMs)) })
        {
            var c = model.Cost;
            sb.Append(Inv, $"| {model.Label} | `{Path.GetFileName(model.Source)}` | {c.Parameters:N0} | {c.NonzeroParameters:N0} | {c.Flops:N0} | {c.NonzeroFlops:N0} | {Ratio(r.TheoreticalSpeedup(model))} |");
            foreach (double ms in times) sb.Append(' ').Append(Milliseconds(ms)).Append(" |");
            sb.Append('\n');
        }
        sb.Append(Inv, $"| **speedup** (dense ÷ pruned) | | | | | | **{Ratio(r.TheoreticalSpeedup(r.Pruned))}** |");
        foreach (var l in r.Latencies) sb.Append(" **").Append(Ratio(l.MeasuredSpeedup)).Append("** |");
        sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>The setup line, the table and the note, ready to paste.</summary>
    public static string ToReport(SpeedupResult r)
    {
        var sb = new StringBuilder(Setup(r)).Append("\n\n").Append(ToMarkdown(r));
        if (Note(r) is { } note) sb.Append('\n').Append(note).Append('\n');
        return sb.ToString();
    }

    public static string ToCsv(SpeedupResult r)
    {
        var sb = new StringBuilder("model,checkpoint,architecture,runtime,batch,threads,runs,warmup,params,nonzero_params,flops,nonzero_flops," +
            "theoretical_speedup,median_ms,min_ms,max_ms,measured_speedup\n");
        foreach (var l in r.Latencies)
        {
            foreach (var (model, times, speedup) in new[] { (r.Dense, l.DenseMs, 1.0), (r.Pruned, l.PrunedMs, l.MeasuredSpeedup) })
            {
                var c = model.Cost;
                sb.Append(Inv, $"{model.Label},{Csv(model.Source)},{model.Spec.Architecture},{l.Runtime},{l.Batch},{r.Threads},{r.Runs},{r.Warmup},");
                sb.Append(Inv, $"{c.Parameters},{c.NonzeroParameters},{c.Flops},{c.NonzeroFlops},{r.TheoreticalSpeedup(model):R},");
                sb.Append(Inv, $"{LatencyResult.Median(times):R},{times.Min():R},{times.Max():R},{speedup:R}\n");
            }
        }
        return sb.ToString();
    }

    private static string Ratio(double x) => double.IsInfinity(x) ? "∞" : x.ToString("F2", Inv) + "×";

    /// <summary>Three or four significant digits, from microseconds to seconds.</summary>
    private static string Milliseconds(double ms) => ms.ToString(ms < 0.1 ? "F4" : ms < 1 ? "F3" : ms < 100 ? "F2" : "F1", Inv);

    private static string Csv(string text) => text.Contains(',') || text.Contains('"') ? $"\"{text.Replace("\"", "\"\"")}\"" : text;
}
