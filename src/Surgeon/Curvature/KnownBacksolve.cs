using Surgeon.Compression;

namespace Surgeon.Curvature;

/// <summary>
/// A backsolve a selection has already computed, handed to the update that follows it in the same method: CHITA's
/// selection ends with the backsolve on the support it returns, and <c>chita</c> = chita-s+backsolve would otherwise
/// solve the same N×N system again (a third of a one-stage CHITA's time on MLPNet). The update takes it only when the
/// Fisher, the weights w̄ and the keep mask are exactly the ones it was computed for, and the entry is removed when
/// taken, so a stale one is never used.
/// </summary>
internal static class KnownBacksolve
{
    private const string Key = "known-backsolve";

    private sealed record Entry(EmpiricalFisher Fisher, double[] W, bool[] Keep, double[] Beta);

    /// <summary>Records β = the backsolve (without the gradient term) of <paramref name="fisher"/> at the flat weights
    /// <paramref name="w"/> on the support <paramref name="keep"/>.</summary>
    public static void Store(PruningContext context, EmpiricalFisher fisher, double[] w, bool[] keep, double[] beta) =>
        context.Cache[Key] = new Entry(fisher, (double[])w.Clone(), (bool[])keep.Clone(), (double[])beta.Clone());

    /// <summary>The recorded β when it was computed for this Fisher, these weights and this keep mask; else null. Either
    /// way the record is dropped.</summary>
    public static double[]? Take(PruningContext context, EmpiricalFisher fisher, double[] w, bool[] keep)
    {
        if (!context.Cache.Remove(Key, out var stored) || stored is not Entry entry) return null;
        bool same = ReferenceEquals(entry.Fisher, fisher) && entry.W.AsSpan().SequenceEqual(w) && entry.Keep.AsSpan().SequenceEqual(keep);
        return same ? entry.Beta : null;
    }
}
