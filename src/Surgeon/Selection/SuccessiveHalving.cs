namespace Surgeon.Selection;

/// <summary>
/// Successive halving over candidates scored by a sum of per-sample losses on a fixed sample order (each rung's samples
/// are a prefix of the next rung's, so a candidate that goes on is only scored on the new samples). The rungs, read
/// backwards from the whole sample S: S, ⌈S/η⌉, ⌈S/η²⌉, … down to the first that is at least
/// <see cref="FirstSamples"/> (so the first rung holds between <see cref="FirstSamples"/> and η·<see cref="FirstSamples"/>
/// samples); after each rung but the last the best ⌈m/η⌉ of the m candidates go on. The pick is the candidate of
/// lowest sum on the whole sample among the finalists; ties go to the lower candidate number throughout.
/// With S = 5,000, η = 4 and 50 candidates: all 50 on 313 samples, 13 on 1,250, 4 on 5,000 (42,831 sample
/// evaluations instead of 250,000). With <see cref="RaceLeader"/> each rung's candidates are scored one after another
/// in rank order, the best fully scored so far being the leader; a later candidate's scoring may stop early (the call is
/// told the leader, and on the last rung the sum at which its total could no longer beat the leader's) and a stopped
/// candidate is out. The scorer decides when to stop: CBS-S stops on the bound and on a paired test against the leader
/// (<see cref="PairedStop"/>), which a candidate's first few hundred samples cannot pass.
/// </summary>
internal sealed record SuccessiveHalving(int FirstSamples = 250, int Eta = 4, bool RaceLeader = true)
{
    /// <summary>The sample counts of the rungs, increasing, the last being <paramref name="samples"/>.</summary>
    public IReadOnlyList<int> Rungs(int samples)
    {
        if (FirstSamples < 1 || Eta < 2) throw new SurgeonException($"successive halving needs a first rung ≥ 1 and η ≥ 2, got {FirstSamples} and {Eta}");
        var rungs = new List<int> { samples };
        while (true)
        {
            int smaller = (int)Math.Ceiling((double)rungs[^1] / Eta);
            if (smaller < FirstSamples || smaller >= rungs[^1]) break;
            rungs.Add(smaller);
        }
        rungs.Reverse();
        return rungs;
    }

    /// <summary>One rung of the whole sample: every candidate on every sample (the exhaustive scoring).</summary>
    public static SuccessiveHalving Exhaustive { get; } = new(int.MaxValue, RaceLeader: false);

    /// <summary>How many of <paramref name="count"/> candidates go on to the next rung.</summary>
    public int Survivors(int count) => (count + Eta - 1) / Eta;

    /// <summary>Candidate evaluations over all rungs (the progress bar's length).</summary>
    public int Evaluations(int candidates, int samples)
    {
        int total = 0, alive = candidates;
        var rungs = Rungs(samples);
        for (int r = 0; r < rungs.Count; r++)
        {
            total += alive;
            alive = Survivors(alive);
        }
        return total;
    }

    /// <summary>Runs the halving with sums that never stop early: <paramref name="lossSum"/>(candidate, from, to) is the
    /// candidate's loss summed over samples [from, to) of the fixed order.</summary>
    public HalvingPick Pick(int candidates, int samples, Func<int, int, int, double> lossSum) =>
        Pick(candidates, samples, call => new LossSum(lossSum(call.Candidate, call.From, call.To), call.To - call.From, Stopped: false));

    /// <summary>
    /// Runs the halving. <paramref name="lossSum"/> scores one candidate on samples [From, To) of the fixed order; a
    /// finalist racing a leader may return a sum that <see cref="LossSum.Stopped"/> early, and is then out.
    /// <paramref name="onScored"/>(candidate, samples, sum, stopped) is told each score's running sum over the first
    /// <c>samples</c> samples.
    /// </summary>
    public HalvingPick Pick(int candidates, int samples, Func<RungCall, LossSum> lossSum, Action<int, int, double, bool>? onScored = null)
    {
        if (candidates < 1 || samples < 1) throw new SurgeonException($"successive halving needs candidates and samples, got {candidates} and {samples}");
        var sums = new double[candidates];
        var alive = Enumerable.Range(0, candidates).ToList();
        var rungs = Rungs(samples);
        int done = 0;
        long evaluated = 0;
        for (int r = 0; r < rungs.Count; r++)
        {
            bool last = r == rungs.Count - 1;
            int leader = -1, count = alive.Count;
            var stopped = new HashSet<int>();
            foreach (int c in alive)
            {
                // Racing, a candidate is held to the best fully scored one of this rung; only on the last rung can a
                // sum bound its total against the leader's.
                double stopAt = RaceLeader && last && leader >= 0 ? sums[leader] - sums[c] : double.PositiveInfinity;
                var score = lossSum(new RungCall(c, done, rungs[r], RaceLeader ? leader : -1, stopAt));
                sums[c] += score.Sum;
                evaluated += score.Samples;
                onScored?.Invoke(c, done + score.Samples, sums[c], score.Stopped);
                if (score.Stopped) stopped.Add(c);
                else if (leader < 0 || sums[c] < sums[leader] || (sums[c] == sums[leader] && c < leader)) leader = c;
            }
            done = rungs[r];
            alive.RemoveAll(stopped.Contains);
            alive.Sort((a, b) => sums[a] != sums[b] ? sums[a].CompareTo(sums[b]) : a.CompareTo(b));
            if (!last && alive.Count > Survivors(count)) alive.RemoveRange(Survivors(count), alive.Count - Survivors(count));
        }
        return new HalvingPick(alive[0], sums[alive[0]], evaluated);
    }
}

/// <summary>One score a halving asks for: <paramref name="Candidate"/> on samples [<paramref name="From"/>,
/// <paramref name="To"/>); <paramref name="Leader"/> is the finalist to beat (−1 when none), and the candidate cannot
/// beat it once its sum over [From, To) reaches <paramref name="StopAt"/>.</summary>
internal readonly record struct RungCall(int Candidate, int From, int To, int Leader, double StopAt);

/// <summary>The chosen candidate, its loss sum over the whole sample, and the sample evaluations it took.</summary>
internal sealed record HalvingPick(int Candidate, double LossSum, long SampleEvaluations);
