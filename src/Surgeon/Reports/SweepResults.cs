using Surgeon.Pruning;
using System.Text.Json;
using Surgeon.IO;
using Surgeon.Training;

namespace Surgeon.Reports;

/// <summary>
/// The results of one sweep read back from what <c>surgeon sweep</c> wrote, to rebuild its table and plot: the
/// finished sweep's <c>sweep.json</c> (points, dense accuracy, configuration) or its <c>points.jsonl</c> journal (the
/// points only, also of a sweep that was interrupted).
/// </summary>
/// <param name="Source">The file the results were read from.</param>
/// <param name="Dense">The dense model's test result; null when read from a journal, which does not record it.</param>
/// <param name="Note">What the reader left out and why (a last journal line cut short by a crash, other sweeps in the
/// same journal), or null; one line per item.</param>
internal sealed record SweepResults(string Source, IReadOnlyList<SweepPoint> Points, EvalResult? Dense,
    IReadOnlyDictionary<string, string> Config, string? Note = null)
{
    public const string ReportFile = "sweep.json", JournalFile = "points.jsonl";

    /// <summary>How sweep.json is written and read: a loss that is not finite as "Infinity" / "NaN" (see <see cref="JsonNumbers"/>).</summary>
    internal static readonly JsonSerializerOptions Json = JsonNumbers.With(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    });

    /// <summary>Reading is stricter: a point lacking a field, or with null where a value belongs, is an error.</summary>
    private static readonly JsonSerializerOptions StrictJson = new(Json)
    {
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    private sealed record DenseJson(double Accuracy, double Loss);
    private sealed record ReportJson(Dictionary<string, string>? Config = null, DenseJson? Dense = null, List<SweepPoint>? Points = null);

    /// <summary>
    /// Reads a sweep folder (its sweep.json, or its points.jsonl when the sweep did not finish), a sweep.json or a
    /// points.jsonl file.
    /// </summary>
    public static SweepResults Read(string path)
    {
        Surgeon.IO.InputFiles.Check(path, "sweep results");
        if (Directory.Exists(path))
        {
            string report = Path.Combine(path, ReportFile), journal = Path.Combine(path, JournalFile);
            Surgeon.IO.InputFiles.Check(report, ReportFile);
            Surgeon.IO.InputFiles.Check(journal, JournalFile);
            // A planned sweep is read through its plan, before any sweep.json (which its report job writes beside it).
            if (File.Exists(Path.Combine(path, SweepPlan.FileName))) return ReadPlanned(path);
            if (File.Exists(report)) return ReadReport(report);
            if (File.Exists(journal)) return ReadJournal(journal);
            throw new SurgeonException($"{path} holds neither {ReportFile} nor {JournalFile}: is it a folder written by 'surgeon sweep'?");
        }
        if (!File.Exists(path))
            throw new SurgeonException($"sweep results not found: {path} (give a sweep folder, its {ReportFile} or its {JournalFile})");
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return ReadJournal(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return ReadReport(path);
        throw new SurgeonException($"{path} is neither a {ReportFile} nor a {JournalFile} (by its name); give a sweep folder or one of those files");
    }

    /// <summary>
    /// The finished points of a planned sweep (its plan.json and the journal lines of the plan's key), in plan order,
    /// with the dense result the plan recorded; the note lists the points not finished yet, those a worker is running
    /// now marked with its pid and host.
    /// </summary>
    private static SweepResults ReadPlanned(string folder)
    {
        var plan = SweepPlan.Load(Path.Combine(folder, SweepPlan.FileName));
        string journal = Path.Combine(folder, JournalFile);
        var contents = File.Exists(journal) ? SweepJournal.ReadAll(journal) : new JournalContents([], null);
        var recorded = contents.Lines.Where(l => l.Key == plan.Key)
            .GroupBy(l => (l.Point.Method, l.Point.Sparsity, l.Point.Seed))
            .ToDictionary(g => g.Key, g => g.Last().Point); // a point recorded twice (a rerun racing a kill) counts once
        var points = new List<SweepPoint>();
        var missing = new List<string>();
        foreach (var p in plan.Points)
        {
            var plain = recorded.GetValueOrDefault((p.Method, p.Sparsity, p.Seed));
            var recalibrated = recorded.GetValueOrDefault((p.Method + SweepRunner.RecalibratedSuffix, p.Sparsity, p.Seed));
            if (plain is null || (plan.RecalibrateBnSamples > 0 && recalibrated is null))
            {
                var (running, holder) = ExclusiveFileLock.Probe(SweepPlan.ClaimPath(folder, p.Index));
                missing.Add(running ? $"{p.Describe()} (running: {holder ?? "holder unknown"})" : p.Describe());
                continue;
            }
            points.Add(plain);
            if (plan.RecalibrateBnSamples > 0) points.Add(recalibrated!);
        }
        string? note = contents.Warning;
        if (missing.Count > 0)
        {
            string line = $"{folder}: {missing.Count} of {plan.Points.Count} planned points have not finished: {string.Join(", ", missing)}; " +
                $"compute them with 'surgeon sweep --out-dir {folder}' or by resubmitting the same sweep";
            note = note is null ? line : $"{note}\n{line}";
        }
        if (points.Count == 0)
            throw new SurgeonException($"no point of the plan in {folder} has finished yet (0 of {plan.Points.Count}); run workers with 'surgeon sweep --out-dir {folder}'");
        return new SweepResults(folder, points, new EvalResult(plan.DenseAccuracy, plan.DenseLoss, 0), plan.Config(), note);
    }

    private static SweepResults ReadReport(string path)
    {
        ReportJson? report;
        try
        {
            report = JsonSerializer.Deserialize<ReportJson>(File.ReadAllBytes(path), StrictJson);
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{path} is not a {ReportFile} written by 'surgeon sweep' ({IO.JsonErrors.OneLine(e)})", e);
        }
        if (report?.Points is null || report.Points.Any(p => p is null || p.Method is null))
            throw new SurgeonException($"{path} is not a {ReportFile} written by 'surgeon sweep': it has no list of points");
        if (report.Points.Count == 0)
            throw new SurgeonException($"{path} has no sweep points");
        for (int i = 0; i < report.Points.Count; i++)
            if (report.Points[i].Problem() is { } problem)
                throw new SurgeonException($"{path}: point {i + 1} of {report.Points.Count} is impossible, {report.Points[i].Describe()}: {problem}");
        if (report.Dense is { } d && JsonNumbers.First(JsonNumbers.Fraction("its accuracy", d.Accuracy), JsonNumbers.Loss("its loss", d.Loss)) is { } bad)
            throw new SurgeonException($"{path}: the dense result is impossible: {bad}");
        var dense = report.Dense is null ? null : new EvalResult(report.Dense.Accuracy, report.Dense.Loss, 0);
        return new SweepResults(path, report.Points, dense, report.Config ?? []);
    }

    private static SweepResults ReadJournal(string path)
    {
        var (lines, warning) = SweepJournal.ReadAll(path);
        if (lines.Count == 0)
            throw new SurgeonException($"{path} has no sweep points: is it a {JournalFile} written by 'surgeon sweep'?");
        // One journal can hold several sweeps (the same folder rerun with another checkpoint, data or options); the one
        // written last is the one the folder's tables describe.
        string key = lines[^1].Key;
        var points = lines.Where(l => l.Key == key).Select(l => l.Point).ToList();
        int others = lines.Count - points.Count;
        string? note = others == 0 ? null
            : $"{path}: kept the {points.Count} points of the sweep written last; left out {others} of {lines.Select(l => l.Key).Distinct().Count() - 1} earlier sweep(s) with other settings";
        if (warning is not null) note = note is null ? warning : $"{warning}\n{note}";
        // A point recorded twice (a rerun racing a kill) counts once.
        points = points.GroupBy(p => (p.Method, p.Sparsity, p.Seed)).Select(g => g.Last()).ToList();
        return new SweepResults(path, points, null, new Dictionary<string, string> { ["key"] = key }, note);
    }
}
