
namespace Surgeon.Modifiers;

/// <summary>
/// When and how much to prune while training (Lubana &amp; Dick's protocol): starting after epoch <see cref="StartEpoch"/>
/// (0 = at initialisation, before any training), one round after each of the next <see cref="Rounds"/> epochs; round k
/// (1-based) removes the fraction p_k = p / (k·p + n(1 − p)) of the filters present at that moment. The product
/// telescopes: after k rounds the fraction n(1 − p)/(k·p + n(1 − p)) of the filters remains, so the compression ratio
/// (original / remaining) grows linearly in k, and after n rounds exactly 1 − p remains.
/// </summary>
internal sealed record FilterPruningSchedule(double Target, int Rounds = 1, int StartEpoch = 1)
{
    public void Validate(int epochs)
    {
        if (!(Target >= 0 && Target < 1))
            throw new SurgeonException($"--prune-target must be in [0, 1), got {Target}");
        if (Rounds < 1)
            throw new SurgeonException($"--prune-rounds must be ≥ 1, got {Rounds}");
        if (StartEpoch < 0)
            throw new SurgeonException($"--prune-start must be ≥ 0 (0 = at initialisation), got {StartEpoch}");
        int last = StartEpoch + Rounds - 1;
        if (last > epochs)
            throw new SurgeonException(
                $"pruning rounds run after epochs {StartEpoch}..{last}, but training has only {epochs} epochs; raise --epochs or lower --prune-start/--prune-rounds");
    }

    /// <summary>The fraction of the current filters that round <paramref name="k"/> (1..n) removes.</summary>
    public double FractionAt(int k)
    {
        if (k < 1 || k > Rounds) throw new ArgumentOutOfRangeException(nameof(k), $"round {k} outside 1..{Rounds}");
        return Target / (k * Target + Rounds * (1 - Target));
    }

    /// <summary>The round (1..n) that runs once <paramref name="epochsDone"/> epochs are finished, or 0 for none.</summary>
    public int RoundAfter(int epochsDone)
    {
        int k = epochsDone - StartEpoch + 1;
        return k >= 1 && k <= Rounds ? k : 0;
    }
}
