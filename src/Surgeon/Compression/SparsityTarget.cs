namespace Surgeon.Compression;

/// <summary>Turns a requested sparsity into an exact number of weights to prune, with the checks a user needs.</summary>
public static class SparsityTarget
{
    public static void Validate(double sparsity)
    {
        if (double.IsNaN(sparsity) || sparsity < 0 || sparsity >= 1)
            throw new SurgeonException($"sparsity must be in [0, 1), got {sparsity}");
    }

    /// <summary>k = ⌊s·d⌋ weights to prune out of <paramref name="total"/>.</summary>
    public static long PruneCount(double sparsity, long total)
    {
        Validate(sparsity);
        // A small epsilon so that e.g. 0.9·100 = 89.99999 still prunes 90.
        long k = (long)Math.Floor(sparsity * total + 1e-9);
        if (sparsity > 0 && k == 0)
            throw new SurgeonException($"sparsity {sparsity} of {total} weights rounds to zero weights to prune; ask for at least {1.0 / total:G3}");
        return Math.Min(k, total - 1);
    }
}
