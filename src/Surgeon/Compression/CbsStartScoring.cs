namespace Surgeon.Compression;

/// <summary>How CBS-S spends real-loss forward passes on its randomised starts and swap-search masks.</summary>
public enum CbsStartScoring
{
    /// <summary>
    /// Successive halving: every start on a few hundred loss samples, the best quarter on four times as many, and so on
    /// until the finalists are scored on the whole loss sample; a swap-search mask's evaluation stops as soon as its
    /// partial loss sum reaches the best total (per-sample cross-entropy is non-negative, so it could not win).
    /// </summary>
    Halving,

    /// <summary>The paper's scoring, for reproduction: every start and every swap-search mask on the whole loss sample.</summary>
    Exhaustive,
}

internal static class CbsStartScorings
{
    public static CbsStartScoring Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "halving" => CbsStartScoring.Halving,
        "exhaustive" => CbsStartScoring.Exhaustive,
        _ => throw new SurgeonException($"'{text}' is not a CBS-S start scoring: use halving (successive halving, early stop) or exhaustive (every mask on every loss sample)"),
    };

    public static string Name(this CbsStartScoring scoring) => scoring.ToString().ToLowerInvariant();
}
