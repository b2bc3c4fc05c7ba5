using System.Globalization;

namespace Surgeon.Compression;

/// <summary>Turns a requested sparsity into an exact number of weights to prune, with the checks a user needs.</summary>
internal static class SparsityTarget
{
    /// <summary>The range check alone, s ∈ [0, 1): for values where 0 is legitimate (a schedule's initial sparsity).
    /// A sparsity that is asked to prune goes through <see cref="PruneCount"/>, which also refuses one that prunes nothing.</summary>
    public static void Validate(double sparsity)
    {
        if (double.IsNaN(sparsity) || sparsity < 0 || sparsity >= 1)
            throw new SurgeonException($"sparsity must be in [0, 1), got {Text(sparsity)}");
    }

    /// <summary>
    /// k = ⌊s·d⌋ weights to prune out of <paramref name="total"/>, at most d − 1. A sparsity that prunes no weight is
    /// refused, whether it rounds to zero (1e-9 of 32,360 weights) or is zero already (0, −0, a subnormal such as
    /// 4.9e-324): asking to prune and pruning nothing is a mistake, not a request.
    /// </summary>
    public static long PruneCount(double sparsity, long total)
    {
        Validate(sparsity);
        // A small epsilon so that e.g. 0.9·100 = 89.99999 still prunes 90.
        long k = (long)Math.Floor(sparsity * total + 1e-9);
        if (k == 0)
            throw new SurgeonException($"sparsity {Text(sparsity)} of {total} weights rounds to zero weights to prune; ask for at least {(1.0 / total).ToString("G3", CultureInfo.InvariantCulture)}");
        return Math.Min(k, total - 1);
    }

    /// <summary>
    /// How many of each layer's weights layer-wise selection prunes: in total exactly k = <see cref="PruneCount"/> (⌊s·d⌋,
    /// as for every method), each layer ⌊s·d_l⌋ or one more. The k − Σ⌊s·d_l⌋ weights the per-layer floors leave over
    /// go, one each, to the layers with the largest remainders s·d_l − ⌊s·d_l⌋ (ties to the earlier layer), never taking
    /// a layer's last weight while another layer can give one.
    /// </summary>
    public static long[] PerLayerCounts(double sparsity, IReadOnlyList<long> layerSizes)
    {
        long total = layerSizes.Sum();
        long k = PruneCount(sparsity, total);
        int n = layerSizes.Count;
        var counts = new long[n];
        var remainders = new double[n];
        for (int l = 0; l < n; l++)
        {
            double ideal = sparsity * layerSizes[l];
            counts[l] = Math.Min(layerSizes[l], (long)Math.Floor(ideal));
            remainders[l] = ideal - counts[l];
        }
        // Largest remainders first; equal remainders in layer order (OrderBy is stable).
        var order = Enumerable.Range(0, n).OrderByDescending(l => remainders[l]).ToArray();
        long missing = k - counts.Sum();
        // Rounding of s·d_l in floating point can leave the floors one over k: take back from the smallest remainders.
        for (int i = n - 1; missing < 0 && i >= 0; i--)
            if (counts[order[i]] > 0) { counts[order[i]]--; missing++; }
        foreach (bool mayEmpty in new[] { false, true })
            for (int i = 0; missing > 0 && i < n; i++)
            {
                int l = order[i];
                if (counts[l] < layerSizes[l] - (mayEmpty ? 0 : 1)) { counts[l]++; missing--; }
            }
        return counts;
    }

    /// <summary>A sparsity as messages write it: round-trip digits, and −0 as "-0" so the user sees what they typed.</summary>
    private static string Text(double sparsity) => sparsity.ToString("R", CultureInfo.InvariantCulture);
}
