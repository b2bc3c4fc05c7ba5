using System.Globalization;
using System.Text;
using Surgeon.IO;

namespace Surgeon.Training;

/// <summary>
/// One record of the training dynamics the gradient-flow paper studies, taken after an epoch (or every k steps):
/// the loss and accuracy, and the gradient-flow quantities of the model at that moment, ‖θ‖², θᵀg, ‖g‖² and θᵀHg
/// (under gradient flow d‖θ‖²/dt = −2θᵀg and d²‖θ‖²/dt² = 2‖g‖² + 2θᵀHg), with the model's size.
/// Quantities not measured are NaN.
/// </summary>
internal sealed record DynamicsRecord
{
    public int Epoch { get; init; }
    public long Step { get; init; }
    public double LearningRate { get; init; } = double.NaN;
    public double TrainLoss { get; init; } = double.NaN;
    public double TrainAccuracy { get; init; } = double.NaN;
    public double TestLoss { get; init; } = double.NaN;
    public double TestAccuracy { get; init; } = double.NaN;
    public double ThetaNormSquared { get; init; } = double.NaN;
    public double ThetaDotGrad { get; init; } = double.NaN;
    public double GradNormSquared { get; init; } = double.NaN;
    public double ThetaHessGrad { get; init; } = double.NaN;
    public long Parameters { get; init; }
    public long Flops { get; init; }
    /// <summary>What happened at this point besides training, e.g. "pruned 25.0% of filters (round 1/3)".</summary>
    public string Event { get; init; } = "";
}

/// <summary>The dynamics of one training run, rewritten atomically as CSV after every record so a crash loses nothing.</summary>
internal sealed class DynamicsLog
{
    public static readonly string[] Columns =
    [
        "epoch", "step", "learning_rate", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
        "theta_norm_sq", "theta_dot_g", "grad_norm_sq", "theta_hg", "parameters", "flops", "event",
    ];

    private readonly List<DynamicsRecord> records = [];

    public DynamicsLog(string? csvPath = null) => CsvPath = csvPath;

    public string? CsvPath { get; }
    public IReadOnlyList<DynamicsRecord> Records => records;

    public void Add(DynamicsRecord record)
    {
        records.Add(record);
        if (CsvPath is not null)
            AtomicFile.WriteAllText(CsvPath, ToCsv(records));
    }

    public static string ToCsv(IEnumerable<DynamicsRecord> records)
    {
        var sb = new StringBuilder(string.Join(',', Columns)).Append('\n');
        foreach (var r in records)
        {
            string[] cells =
            [
                r.Epoch.ToString(CultureInfo.InvariantCulture), r.Step.ToString(CultureInfo.InvariantCulture),
                Num(r.LearningRate), Num(r.TrainLoss), Num(r.TrainAccuracy), Num(r.TestLoss), Num(r.TestAccuracy),
                Num(r.ThetaNormSquared), Num(r.ThetaDotGrad), Num(r.GradNormSquared), Num(r.ThetaHessGrad),
                r.Parameters.ToString(CultureInfo.InvariantCulture), r.Flops.ToString(CultureInfo.InvariantCulture),
                Quote(r.Event),
            ];
            sb.Append(string.Join(',', cells)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Reads a CSV written by <see cref="ToCsv"/> (for plots that compare runs).</summary>
    public static List<DynamicsRecord> ReadCsv(string path)
    {
        InputFiles.Check(path, "dynamics CSV");
        if (!File.Exists(path))
            throw new SurgeonException($"dynamics file not found: {path}");
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != string.Join(',', Columns))
            throw new SurgeonException($"{path} is not a dynamics CSV written by surgeon (header differs)");
        var result = new List<DynamicsRecord>();
        for (int i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0) continue;
            var cells = SplitCsv(lines[i]);
            if (cells.Count != Columns.Length)
                throw new SurgeonException($"{path}:{i + 1}: expected {Columns.Length} cells, found {cells.Count}");
            try
            {
                result.Add(new DynamicsRecord
                {
                    Epoch = int.Parse(cells[0], CultureInfo.InvariantCulture),
                    Step = long.Parse(cells[1], CultureInfo.InvariantCulture),
                    LearningRate = ParseNum(cells[2]),
                    TrainLoss = ParseNum(cells[3]),
                    TrainAccuracy = ParseNum(cells[4]),
                    TestLoss = ParseNum(cells[5]),
                    TestAccuracy = ParseNum(cells[6]),
                    ThetaNormSquared = ParseNum(cells[7]),
                    ThetaDotGrad = ParseNum(cells[8]),
                    GradNormSquared = ParseNum(cells[9]),
                    ThetaHessGrad = ParseNum(cells[10]),
                    Parameters = long.Parse(cells[11], CultureInfo.InvariantCulture),
                    Flops = long.Parse(cells[12], CultureInfo.InvariantCulture),
                    Event = cells[13],
                });
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                throw new SurgeonException($"{path}:{i + 1}: {e.Message}", e);
            }
        }
        return result;
    }

    private static string Num(double v) =>
        double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    private static double ParseNum(string s) =>
        s.Length == 0 ? double.NaN : double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    private static List<string> SplitCsv(string line)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cell.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cells.Add(cell.ToString()); cell.Clear(); }
            else cell.Append(c);
        }
        cells.Add(cell.ToString());
        return cells;
    }
}
