namespace Surgeon.Selection;

/// <summary>
/// Successive halving over candidates scored by a sum of per-sample losses on a fixed sample order (each rung's samples
/// are a prefix of the next rung's, so a candidate that goes on is only scored on the new samples). The rungs, read
/// backwards from the whole sample S: S, ⌈S/η⌉, ⌈S/η²⌉, … down to the first that is at least
/// <see cref="FirstSamples"/> (so the first rung holds between <see cref="FirstSamples"/> and η·<see cref="FirstSamples"/>
/// samples); after each rung but the last the best ⌈m/η⌉ of the m candidates go on. The pick is the candidate of
/// lowest sum on the whole sample among the finalists; ties go to the lower candidate number throughout.
/// With S = 5,000, η = 4 and 50 candidates: all 50 on 313 samples, 13 on 1,250, 4 on 5,000 (42,831 sample
/// evaluations instead of 250,000).
/// </summary>
internal sealed record SuccessiveHalving(int FirstSamples = 250, int Eta = 4)
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
    public static SuccessiveHalving Exhaustive { get; } = new(int.MaxValue);

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

    /// <summary>
    /// Runs the halving. <paramref name="lossSum"/>(candidate, from, to) is the candidate's loss summed over samples
    /// [from, to) of the fixed order; <paramref name="onScored"/>(candidate, samples, sum) is told each rung's running
    /// sum over the first <c>samples</c> samples.
    /// </summary>
    public HalvingPick Pick(int candidates, int samples, Func<int, int, int, double> lossSum, Action<int, int, double>? onScored = null)
    {
        if (candidates < 1 || samples < 1) throw new SurgeonException($"successive halving needs candidates and samples, got {candidates} and {samples}");
        var sums = new double[candidates];
        var alive = Enumerable.Range(0, candidates).ToList();
        var rungs = Rungs(samples);
        int done = 0;
        long evaluated = 0;
        for (int r = 0; r < rungs.Count; r++)
        {
            foreach (int c in alive)
            {
                sums[c] += lossSum(c, done, rungs[r]);
                onScored?.Invoke(c, rungs[r], sums[c]);
            }
            evaluated += (long)alive.Count * (rungs[r] - done);
            done = rungs[r];
            alive.Sort((a, b) => sums[a] != sums[b] ? sums[a].CompareTo(sums[b]) : a.CompareTo(b));
            if (r < rungs.Count - 1) alive.RemoveRange(Survivors(alive.Count), alive.Count - Survivors(alive.Count));
        }
        return new HalvingPick(alive[0], sums[alive[0]], evaluated);
    }
}

/// <summary>The chosen candidate, its loss sum over the whole sample, and the sample evaluations it took.</summary>
internal sealed record HalvingPick(int Candidate, double LossSum, long SampleEvaluations);
