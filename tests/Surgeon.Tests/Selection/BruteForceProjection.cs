namespace Surgeon.Tests.Selection;

/// <summary>
/// The nearest point of "at most k groups nonzero" found by enumerating every feasible support: each subset of at most
/// k groups (the groups given as lists of flat, row-major entry indices, built by the tests with their own loops).
/// </summary>
internal static class BruteForceProjection
{
    /// <summary>The nearest feasible point, and the gap between the best and second-best squared distance.</summary>
    public static (double[] Point, double Margin) Nearest(double[] w, IReadOnlyList<int[]> groups, int k)
    {
        double best = double.PositiveInfinity, second = double.PositiveInfinity;
        double[]? point = null;
        foreach (var subset in Subsets(groups.Count, k))
        {
            var candidate = new double[w.Length];
            foreach (int g in subset)
                foreach (int i in groups[g]) candidate[i] = w[i];
            double d = 0;
            for (int i = 0; i < w.Length; i++) d += (w[i] - candidate[i]) * (w[i] - candidate[i]);
            if (d < best)
            {
                second = best;
                best = d;
                point = candidate;
            }
            else if (d < second) second = d;
        }
        return (point!, second - best);
    }

    private static IEnumerable<List<int>> Subsets(int n, int k)
    {
        for (long bits = 0; bits < 1L << n; bits++)
        {
            var subset = Enumerable.Range(0, n).Where(i => (bits >> i & 1) == 1).ToList();
            if (subset.Count <= k) yield return subset;
        }
    }

    // The structures' groups, each written out from its definition over a row-major [F, C, kh, kw] (or [F, D]) tensor.

    public static int[][] Single(int n) => Enumerable.Range(0, n).Select(i => new[] { i }).ToArray();

    /// <summary>Filter f: every entry with first index f.</summary>
    public static int[][] Filters(int f, int rest) =>
        Enumerable.Range(0, f).Select(r => Enumerable.Range(0, rest).Select(j => r * rest + j).ToArray()).ToArray();

    /// <summary>Column j of the F × rest matrix: entry j of every filter.</summary>
    public static int[][] Columns(int f, int rest) =>
        Enumerable.Range(0, rest).Select(j => Enumerable.Range(0, f).Select(r => r * rest + j).ToArray()).ToArray();

    /// <summary>Channel c of [F, C, kh, kw]: every (f, c, i, j).</summary>
    public static int[][] Channels(int f, int c, int kh, int kw)
    {
        var groups = new List<int>[c];
        for (int ch = 0; ch < c; ch++) groups[ch] = [];
        for (int a = 0; a < f; a++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        groups[ch].Add(((a * c + ch) * kh + i) * kw + j);
        return groups.Select(g => g.ToArray()).ToArray();
    }

    /// <summary>Tile (a, b) of the rows × columns matrix: entries with row / tileRows = a and column / tileColumns = b.</summary>
    public static int[][] Tiles(int rows, int columns, int tileRows, int tileColumns)
    {
        var tiles = new Dictionary<(int, int), List<int>>();
        for (int r = 0; r < rows; r++)
            for (int col = 0; col < columns; col++)
            {
                var key = (r / tileRows, col / tileColumns);
                if (!tiles.TryGetValue(key, out var list)) tiles[key] = list = [];
                list.Add(r * columns + col);
            }
        return tiles.Values.Select(l => l.ToArray()).ToArray();
    }
}
