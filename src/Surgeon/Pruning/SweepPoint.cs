using Surgeon.IO;

namespace Surgeon.Pruning;

/// <summary>One evaluated (method, sparsity, seed) point of a sweep.</summary>
/// <param name="Loss">The mean test cross-entropy: +∞ or NaN for a method that destroyed the model (its outputs
/// overflow), a legitimate result that the JSON files hold as "Infinity" / "NaN" (see <see cref="JsonNumbers"/>).</param>
internal sealed record SweepPoint(string Method, double Sparsity, int Seed, double ActualSparsity,
    double Accuracy, double Loss, double Seconds)
{
    /// <summary>What makes this point impossible (a sweep never produces it), or null: no method name, a sparsity
    /// outside [0, 1), an accuracy outside [0, 1], a negative loss, a negative or non-finite time.</summary>
    public string? Problem() => string.IsNullOrWhiteSpace(Method)
        ? "it has no method name"
        : JsonNumbers.First(
            JsonNumbers.Fraction("its sparsity", Sparsity, belowOne: true),
            JsonNumbers.Fraction("its actual sparsity", ActualSparsity, belowOne: true),
            JsonNumbers.Fraction("its accuracy", Accuracy),
            JsonNumbers.Loss("its loss", Loss),
            JsonNumbers.NonNegative("its time in seconds", Seconds));

    /// <summary>The point as messages name it: "mp at sparsity 0.5 (seed 0)".</summary>
    public string Describe() =>
        $"{Method} at sparsity {JsonNumbers.Text(Sparsity)} (seed {Seed.ToString(System.Globalization.CultureInfo.InvariantCulture)})";
}

/// <summary>Mean and sample standard deviation over the seeds of one (method, sparsity).</summary>
internal sealed record SweepSummary(string Method, double Sparsity, int Seeds, double AccuracyMean, double AccuracyStd,
    double LossMean, double LossStd, double ActualSparsity)
{
    public static IReadOnlyList<SweepSummary> Aggregate(IEnumerable<SweepPoint> points) =>
        points.GroupBy(p => (p.Method, p.Sparsity))
            .Select(g =>
            {
                var acc = g.Select(p => p.Accuracy).ToArray();
                var loss = g.Select(p => p.Loss).ToArray();
                return new SweepSummary(g.Key.Method, g.Key.Sparsity, acc.Length, acc.Average(), Std(acc),
                    loss.Average(), Std(loss), g.Average(p => p.ActualSparsity));
            })
            .ToList();

    private static double Std(double[] xs)
    {
        if (xs.Length < 2) return 0;
        double mean = xs.Average();
        return Math.Sqrt(xs.Sum(x => (x - mean) * (x - mean)) / (xs.Length - 1));
    }
}
