using Surgeon.Compression;

namespace Surgeon.Modifiers;

/// <summary>
/// The gradual (polynomial) sparsity schedule of Zhu &amp; Gupta (2017), used by WoodFisher and CBS for gradual pruning:
/// s_t = s_f + (s_i − s_f)(1 − t/T)³ for optimiser step t ≤ T, pruning at t = 0, f, 2f, … and at T; s_f afterwards.
/// Fast early (while there are many redundant weights), slow near the end.
/// </summary>
internal sealed record PolynomialSparsitySchedule(double Initial, double Final, long Steps, long Every, long Start = 0)
{
    public void Validate()
    {
        if (!(Initial >= 0 && Initial <= Final))
            throw new SurgeonException($"the initial sparsity must be in [0, final], got {Initial} (final {Final})");
        SparsityTarget.Validate(Final);
        if (Steps < 1) throw new SurgeonException($"the schedule needs at least one step, got {Steps}");
        if (Every < 1 || Every > Steps)
            throw new SurgeonException($"pruning every {Every} steps does not fit a schedule of {Steps} steps; use 1..{Steps}");
    }

    /// <summary>s_t, the target sparsity after step t.</summary>
    public double SparsityAt(long step)
    {
        if (step >= Steps) return Final;
        double remaining = 1 - (double)step / Steps;
        return Final + (Initial - Final) * remaining * remaining * remaining;
    }

    /// <summary>Whether the schedule prunes at step t (0, f, 2f, …, and T).</summary>
    public bool PrunesAt(long step) => step >= 0 && step <= Steps && (step % Every == 0 || step == Steps);

    /// <summary>The steps at which it prunes, in order.</summary>
    public IEnumerable<long> PruningSteps()
    {
        for (long t = 0; t <= Steps; t++)
            if (PrunesAt(t)) yield return t;
    }
}
