using Surgeon.Pruning;
using System.Text.Json;
using Surgeon.Reports;

namespace Surgeon.Tests.Reports;

/// <summary>Hand-written sweep results in the formats 'surgeon sweep' writes, for the report tests.</summary>
internal static class SweepFiles
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>One journal line, as <see cref="SweepJournal.Append"/> writes it.</summary>
    public static string Line(string key, string method, double sparsity, int seed, double accuracy) =>
        JsonSerializer.Serialize(new { key, point = new SweepPoint(method, sparsity, seed, sparsity, accuracy, 1 - accuracy, 0.5) }, Json);

    /// <summary>
    /// A journal of two sweeps: an earlier one (key "old", one point) and the last one (key "new"): mp at 0.5 (seeds 0
    /// and 1: 90 % and 80 %), mp at 0.9 (50 %), wf at 0.5 (95 %); and a last line cut short by a kill.
    /// </summary>
    public static string Journal() => string.Join('\n',
        Line("old", "mp", 0.5, 0, 0.10),
        Line("new", "mp", 0.5, 0, 0.90),
        Line("new", "mp", 0.5, 1, 0.80),
        Line("new", "mp", 0.9, 0, 0.50),
        Line("new", "wf", 0.5, 0, 0.95),
        "{\"key\":\"new\",\"point\":{\"meth");

    /// <summary>The table <see cref="Journal"/> gives (no dense row: a journal does not record it). std of 90 and 80 = 7.07.</summary>
    public static readonly string[] JournalTable =
    [
        "| sparsity | mp | wf |",
        "|---|---|---|",
        "| 0.5 | 85.00 ± 7.07 | 95.00 |",
        "| 0.9 | 50.00 | – |",
    ];

    /// <summary>A one-method journal (key "k") of <paramref name="method"/> at 0.5 and 0.9.</summary>
    public static string SingleMethodJournal(string method, double accuracy) => string.Join('\n',
        Line("k", method, 0.5, 0, accuracy),
        Line("k", method, 0.9, 0, accuracy - 0.2)) + "\n";

    /// <summary>A sweep.json as a finished sweep writes it, with the given dense accuracy.</summary>
    public static string ReportJson(string method, double denseAccuracy) =>
        new SweepReport(new Surgeon.Training.EvalResult(denseAccuracy, 0.3, 100),
            [new SweepPoint(method, 0.5, 0, 0.5, denseAccuracy - 0.01, 0.4, 1)], new Dictionary<string, string> { ["architecture"] = "mlpnet" }).ToJson();
}
