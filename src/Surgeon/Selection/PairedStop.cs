namespace Surgeon.Selection;

/// <summary>
/// When a mask's real-loss evaluation may end because the mask is clearly worse than the leader (the best mask fully
/// evaluated so far): on the samples both have seen, the mean of the per-sample differences (mask − leader) exceeds
/// <paramref name="Z"/> standard errors, after at least <paramref name="MinSamples"/> samples. Why paired: two masks of one
/// network err on the same hard images, so the differences vary far less than the losses, and a mask whose loss is a few
/// per cent above the leader's is told apart on hundreds of samples instead of the thousands the exact bound (a partial
/// sum reaching the leader's total) needs. Unlike that bound this is a statistical test: with Z = 4 and at least 500
/// samples a normal difference would pass it by chance with probability 3·10⁻⁵ at each look.
/// </summary>
internal sealed record PairedStop(double Z = 4, int MinSamples = 500)
{
    /// <summary>Never stops (the exhaustive scoring).</summary>
    public static PairedStop Off { get; } = new(double.PositiveInfinity, int.MaxValue);

    /// <summary>Whether <paramref name="losses"/> are clearly above <paramref name="leader"/>'s on the same samples (equal lengths).</summary>
    public bool ClearlyWorse(ReadOnlySpan<double> losses, ReadOnlySpan<double> leader)
    {
        if (losses.Length != leader.Length) throw new ArgumentException("paired losses need the same samples");
        int n = losses.Length;
        if (n < MinSamples || n < 2 || double.IsPositiveInfinity(Z)) return false;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += losses[i] - leader[i];
        double mean = sum / n;
        if (!(mean > 0)) return false;
        double squares = 0;
        for (int i = 0; i < n; i++)
        {
            double e = losses[i] - leader[i] - mean;
            squares += e * e;
        }
        double standardError = Math.Sqrt(squares / (n - 1) / n);
        return mean > Z * standardError;
    }
}
