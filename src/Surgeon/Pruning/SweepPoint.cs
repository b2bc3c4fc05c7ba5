namespace Surgeon.Pruning;

/// <summary>One evaluated (method, sparsity, seed) point of a sweep.</summary>
public sealed record SweepPoint(string Method, double Sparsity, int Seed, double ActualSparsity,
    double Accuracy, double Loss, double Seconds);

/// <summary>Mean and sample standard deviation over the seeds of one (method, sparsity).</summary>
public sealed record SweepSummary(string Method, double Sparsity, int Seeds, double AccuracyMean, double AccuracyStd,
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
