using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Surgeon.Continual;

/// <summary>
/// What a continual run measured: after each task t, the test accuracy of every task j ≤ t (row t of the accuracy
/// matrix, lower triangular), and the parameters and bytes stored. Average accuracy after t is the mean of row t;
/// backward transfer after t is the mean over j &lt; t of A[t][j] − A[j][j] (Lopez-Paz and Ranzato 2017): negative is
/// forgetting, zero is none.
/// </summary>
internal sealed record ContinualResult(string Method, string Sequence, int Seed, IReadOnlyList<string> Tasks,
    IReadOnlyList<double[]> Accuracy, IReadOnlyList<long> Parameters, IReadOnlyList<long> Bytes)
{
    public static double AverageAccuracy(IReadOnlyList<double[]> accuracy, int after) => accuracy[after].Take(after + 1).Average();

    public static double BackwardTransfer(IReadOnlyList<double[]> accuracy, int after) =>
        after == 0 ? 0 : Enumerable.Range(0, after).Average(j => accuracy[after][j] - accuracy[j][j]);

    public int Count => Accuracy.Count;
    public double FinalAverage => AverageAccuracy(Accuracy, Count - 1);
    public double FinalBackwardTransfer => BackwardTransfer(Accuracy, Count - 1);
    /// <summary>Bytes stored per task learnt, after the last task.</summary>
    public double BytesPerTask => (double)Bytes[^1] / Count;

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The accuracy matrix: a row per task learnt, a column per task evaluated (empty above the diagonal).</summary>
    public string MatrixCsv()
    {
        var sb = new StringBuilder("after_task," + string.Join(',', Enumerable.Range(1, Count).Select(j => $"task_{j}")) + "\n");
        for (int t = 0; t < Count; t++)
            sb.Append(t + 1).Append(',').AppendJoin(',', Enumerable.Range(0, Count).Select(j => j <= t ? Accuracy[t][j].ToString("R", C) : "")).Append('\n');
        return sb.ToString();
    }

    /// <summary>Per task learnt: average accuracy, backward transfer, parameters and bytes stored.</summary>
    public string SummaryCsv()
    {
        var sb = new StringBuilder("after_task,average_accuracy,backward_transfer,parameters,bytes\n");
        for (int t = 0; t < Count; t++)
            sb.Append(C, $"{t + 1},{AverageAccuracy(Accuracy, t):R},{BackwardTransfer(Accuracy, t):R},{Parameters[t]},{Bytes[t]}\n");
        return sb.ToString();
    }

    public string Json() => JsonSerializer.Serialize(new
    {
        method = Method,
        sequence = Sequence,
        seed = Seed,
        tasks = Tasks,
        accuracy = Accuracy,
        averageAccuracy = Enumerable.Range(0, Count).Select(t => AverageAccuracy(Accuracy, t)),
        backwardTransfer = Enumerable.Range(0, Count).Select(t => BackwardTransfer(Accuracy, t)),
        parameters = Parameters,
        bytes = Bytes,
    }, new JsonSerializerOptions { WriteIndented = true }) + "\n";
}
