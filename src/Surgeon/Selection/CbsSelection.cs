using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// CBS-S, the selection of the Combinatorial Brain Surgeon (Yu et al. 2022): choose the pruned set P (|P| = k) that
/// minimises f(P) = (w⊙y)ᵀF(w⊙y), the quadratic-model loss of removing P without an update, so that weights whose
/// effects cancel can be pruned together. Start: the best, by real loss on training samples, of randomised magnitude
/// masks. Then a swap local search that trades i ∈ P for j ∉ P when f drops by at least ε, using
/// α_i = f(P) − f(P∖i), β_j = f(P∪j) − f(P), γ_ij = 2w_iF_ijw_j (a swap changes f by β_j − α_i − γ_ij).
/// F products come from G (F·v = Gᵀ(Gv)/N); no d×d matrix is formed.
/// </summary>
internal sealed class CbsSelection : IJointSelection, IUsesFisher
{
    public string Name => "cbs-s";
    public string Description => "CBS-S: best of randomised magnitude starts by real loss, then a swap search on f(P) = (w⊙y)ᵀF(w⊙y)";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    /// <summary>
    /// The flattened weights as float32 and float64 tensors and a double[] (20); the start, best and search masks and
    /// the final keep mask as bool[] and tensor (5); the search's diag F, u (16), its ranking buffers (12); while u is
    /// first computed, F·v's float64 input, its float32 copy, the result and its float64 copy and array (32): 85, and
    /// the randomised starts' index arrays awaiting collection, rounded up to 96.
    /// </summary>
    public int BookkeepingBytesPerWeight => 96;

    public FisherWork Work => FisherWork.Products;

    /// <summary>Called with every real-loss score CBS-S takes, in order: each randomised start at each halving rung it
    /// reaches (one rung of the whole loss sample when scoring exhaustively), then the mask after each swap-search
    /// iteration that accepted a swap. The mask is a copy. Null (the default) costs nothing. For tests and diagnostics:
    /// the returned mask must be the fully evaluated one of lowest loss.</summary>
    public Action<CbsEvaluatedMask>? OnMaskEvaluated { get; init; }

    /// <summary>The rungs of the starts when <see cref="PruningOptions.CbsStartScoring"/> is halving.</summary>
    public SuccessiveHalving Halving { get; init; } = new();

    /// <summary>Examples per forward pass of a real-loss evaluation; an evaluation can stop early after any batch.</summary>
    public int LossBatchSize { get; init; } = Evaluator.DefaultBatchSize;

    /// <summary>The real loss of a mask is evaluated in batches of up to <see cref="LossBatchSize"/>.</summary>
    public int LossEvaluationExamples(PruningOptions options) => Math.Min(LossBatchSize, options.CbsLossSamples);

    /// <summary>
    /// The training samples on which CBS-S measures real losses, in the fixed (seeded, shuffled) order whose prefixes
    /// are the halving rungs. Every mask is scored on a prefix of this order, so partial sums extend without repeats.
    /// </summary>
    public static int[] LossSamples(PruningContext context)
    {
        var train = context.RequireTrainData("cbs-s");
        return train.RandomSubset(Math.Min(context.Options.CbsLossSamples, train.Count), unchecked(context.Seed * 7919 + 17));
    }

    /// <summary>The paired test that ends a halving finalist's or a swap-search mask's scoring once it is clearly worse
    /// than the best fully scored mask (<see cref="PairedStop"/>); not used when scoring exhaustively.</summary>
    public PairedStop Race { get; init; } = new();

    /// <summary>
    /// The randomised magnitude start of lowest real loss under <paramref name="schedule"/> (<see cref="SuccessiveHalving.Exhaustive"/>
    /// for the paper's scoring): candidate t's mask is <see cref="RandomizedMagnitude.Pruned(int[], long, int)"/>(ranks, k, t), with
    /// <paramref name="ranks"/> from <see cref="RandomizedMagnitude.Ranks"/>. Finalists
    /// racing a leader stop by the exact bound or, unless <paramref name="race"/> is <see cref="PairedStop.Off"/>, by the
    /// paired test. <paramref name="onScored"/>(t, mask, samples, sum, stopped) is told each score's running sum; the
    /// pick's per-sample losses on the whole order come back in <paramref name="pickLosses"/>.
    /// </summary>
    public static HalvingPick PickStart(int[] ranks, long k, int candidates, SuccessiveHalving schedule, MaskedRealLoss realLoss,
        PairedStop race, out double[] pickLosses, Action<int, bool[], int, double, bool>? onScored = null)
    {
        var losses = new double[candidates][];
        bool[] mask = [];
        int maskOf = -1;
        var pick = schedule.Pick(candidates, realLoss.Samples,
            call =>
            {
                int t = call.Candidate;
                if (maskOf != t) { mask = RandomizedMagnitude.Pruned(ranks, k, t); maskOf = t; }
                losses[t] ??= new double[realLoss.Samples];
                var leader = call.Leader >= 0 ? new LeaderRace(losses[call.Leader], race) : null;
                return realLoss.Sum(mask, call.From, call.To, call.StopAt, losses[t], leader);
            },
            (t, n, sum, stopped) => onScored?.Invoke(t, mask, n, sum, stopped));
        pickLosses = losses[pick.Candidate];
        return pick;
    }

    public Tensor SelectKeep(PruningContext context, PruneTarget target)
    {
        var o = context.Options;
        var fisher = FisherProvider.For(context, "cbs-s");
        var w = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64).data<double>().ToArray();
        int d = w.Length;
        long k = target.CountOf(d);
        var ranks = RandomizedMagnitude.Ranks(w); // once: every start and the picked one are cut by it
        var samples = LossSamples(context);
        int sampleCount = samples.Length;
        bool halving = o.CbsStartScoring == CbsStartScoring.Halving;
        var schedule = halving ? Halving : SuccessiveHalving.Exhaustive;
        var realLoss = new MaskedRealLoss(context, samples, LossBatchSize);

        // 1. Start: the best of the randomised magnitude masks by real loss (successive halving or every one on every sample).
        HalvingPick pick;
        double[] bestLosses;
        int startsStopped = 0;
        using (var task = context.Progress.Start("CBS-S: scoring randomised magnitude starts", schedule.Evaluations(o.CbsCandidates, sampleCount)))
        {
            pick = PickStart(ranks, k, o.CbsCandidates, schedule, realLoss, halving ? Race : PairedStop.Off, out bestLosses, (t, mask, n, sum, stopped) =>
            {
                OnMaskEvaluated?.Invoke(new CbsEvaluatedMask(CbsStage.Start, t, (bool[])mask.Clone(), sum / Math.Max(n, 1), n, stopped));
                if (stopped) startsStopped++;
                task.Advance();
            });
        }
        var start = RandomizedMagnitude.Pruned(ranks, k, pick.Candidate);
        double startSum = pick.LossSum;
        var search = new SwapSearch(fisher, w, start);
        double f0 = search.F;
        double epsilon = o.CbsRelativeEpsilon ? o.CbsEpsilon * f0 : o.CbsEpsilon;
        string how = halving
            ? $"successive halving on {string.Join("/", schedule.Rungs(sampleCount))} samples, {startsStopped} start(s) stopped early against the leader, " +
              $"{pick.SampleEvaluations:N0} sample evaluations (exhaustive: {(long)o.CbsCandidates * sampleCount:N0})"
            : $"every one on {sampleCount} samples";
        context.Progress.Info($"CBS-S start: candidate {pick.Candidate} of {o.CbsCandidates} ({how}), real loss {startSum / sampleCount:G5}, f(P) {f0:G5}, ε {epsilon:G3}");

        // 2. Swap local search; keep the iteration whose mask has the lowest real loss. With halving, a mask's
        // evaluation stops once its partial sum reaches the best total (per-sample losses are non-negative, so its
        // total could not be lower) or once it is clearly worse than the best mask on the samples seen (Race, a
        // statistical test). Either way the search takes the same course: it only counts the mask as not improving.
        var best = (bool[])start.Clone();
        double bestSum = startSum;
        int nonImproving = 0, totalSwaps = 0, stoppedEarly = 0;
        using (var task = context.Progress.Start("CBS-S: swap local search", o.CbsMaxIterations))
        {
            for (int iteration = 1; iteration <= o.CbsMaxIterations; iteration++)
            {
                int swaps = search.Iterate(epsilon, o.CbsRho, o.CbsTau);
                totalSwaps += swaps;
                task.Advance();
                if (swaps == 0)
                {
                    context.Progress.Info($"CBS-S iteration {iteration}: no improving swap, search ends");
                    break;
                }
                var losses = new double[sampleCount];
                var loss = realLoss.Sum(search.Pruned, 0, sampleCount, stopAt: halving ? bestSum : double.PositiveInfinity, losses,
                    halving ? new LeaderRace(bestLosses, Race) : null);
                OnMaskEvaluated?.Invoke(new CbsEvaluatedMask(CbsStage.Iteration, iteration, (bool[])search.Pruned.Clone(),
                    loss.Sum / Math.Max(loss.Samples, 1), loss.Samples, loss.Stopped, loss.ClearlyWorse));
                string lossText = !loss.Stopped ? $"real loss {loss.Sum / sampleCount:G5}"
                    : loss.ClearlyWorse
                        ? $"real loss {loss.Sum / loss.Samples:G5} on the first {loss.Samples} of {sampleCount} samples (stopped: clearly above the best mask's on them)"
                        : $"real loss ≥ {loss.Sum / sampleCount:G5} (stopped after {loss.Samples} of {sampleCount} samples: cannot beat {bestSum / sampleCount:G5})";
                context.Progress.Info($"CBS-S iteration {iteration}: {swaps} swaps accepted, f(P) {search.F:G5}, {lossText}");
                task.Description = $"CBS-S: iteration {iteration}, {totalSwaps} swaps, f(P) {search.F:G4}";
                if (loss.Stopped) stoppedEarly++;
                if (!loss.Stopped && loss.Sum < bestSum)
                {
                    bestSum = loss.Sum;
                    bestLosses = losses;
                    best = (bool[])search.Pruned.Clone();
                    nonImproving = 0;
                }
                else if (++nonImproving >= 5)
                {
                    break;
                }
            }
        }
        string stops = halving ? $", {stoppedEarly} mask evaluation(s) stopped early" : "";
        context.Progress.Info($"CBS-S done: {totalSwaps} swaps accepted{stops}; real loss {startSum / sampleCount:G5} (start) → {bestSum / sampleCount:G5} (kept mask)");
        var keep = best.Select(p => !p).ToArray();
        return tensor(keep);
    }
}

/// <summary>Which part of CBS-S scored a mask: a randomised magnitude start, or the swap search after an iteration.</summary>
internal enum CbsStage { Start, Iteration }

/// <summary>A mask CBS-S scored by its real loss: <paramref name="Index"/> is the start's candidate number t or the
/// iteration number (from 1); <paramref name="Pruned"/> marks the pruned weights in flattened prunable order;
/// <paramref name="Loss"/> is the mean per-sample loss over the first <paramref name="Samples"/> loss samples
/// (<see cref="CbsSelection.LossSamples"/>), fewer than all of them at an early halving rung or when the evaluation
/// <paramref name="Stopped"/> because its partial sum already reached the best total or, when
/// <paramref name="ClearlyWorse"/> (swap-search masks), by the paired test against the best mask.</summary>
internal sealed record CbsEvaluatedMask(CbsStage Stage, int Index, bool[] Pruned, double Loss, int Samples, bool Stopped, bool ClearlyWorse = false);

/// <summary>
/// The randomised magnitude masks of the CBS start. Candidate 0 is global magnitude; candidate t shuffles the weight
/// indices with seed t, splits them into min(⌊√d⌋, 1000) chunks and prunes the smallest |w| within each chunk (ties to
/// the lower index). Unlike the authors' code (which rounds up per chunk and so prunes fewer weights than asked), the
/// per-chunk counts sum to exactly k.
/// </summary>
internal static class RandomizedMagnitude
{
    public static bool[] Pruned(double[] w, long k, int candidate) => Pruned(Ranks(w), k, candidate);

    /// <summary>
    /// Each weight's place in the order by |w| ascending, then index: the order every candidate's chunks are cut by.
    /// Computed once for all candidates, so a chunk is sorted as plain integers (bench <c>cbs-phase-profile</c>:
    /// sorting each chunk by |w| with a comparer took 60 ms a candidate on ResNet-20's 267,264 weights).
    /// </summary>
    public static int[] Ranks(double[] w)
    {
        int d = w.Length;
        var magnitude = new double[d];
        for (int i = 0; i < d; i++) magnitude[i] = Math.Abs(w[i]);
        var order = new int[d];
        for (int i = 0; i < d; i++) order[i] = i;
        order.AsSpan().Sort(new MagnitudeThenIndex(magnitude));
        var ranks = new int[d];
        for (int r = 0; r < d; r++) ranks[order[r]] = r;
        return ranks;
    }

    /// <summary>Candidate <paramref name="candidate"/>'s pruned set, from <see cref="Ranks"/>.</summary>
    public static bool[] Pruned(int[] ranks, long k, int candidate)
    {
        int d = ranks.Length;
        var pruned = new bool[d];
        if (candidate == 0)
        {
            for (int i = 0; i < d; i++) pruned[i] = ranks[i] < k;
            return pruned;
        }
        var indices = new int[d];
        for (int i = 0; i < d; i++) indices[i] = i;
        new Random(candidate).Shuffle(indices);
        int chunks = Math.Max(1, Math.Min((int)Math.Sqrt(d), 1000));
        var counts = new long[chunks];
        var lengths = new int[chunks];
        for (int c = 0; c < chunks; c++)
        {
            lengths[c] = d / chunks + (c < d % chunks ? 1 : 0);
            counts[c] = k * lengths[c] / d;
        }
        long remaining = k - counts.Sum();
        for (int c = 0; remaining > 0; c = (c + 1) % chunks)
            if (counts[c] < lengths[c]) { counts[c]++; remaining--; }
        var chunkRanks = new int[lengths.Length > 0 ? lengths.Max() : 0];
        int start = 0;
        for (int c = 0; c < chunks; c++)
        {
            // The chunk's counts[c] smallest ranks: every weight of the chunk ranked at most the counts[c]-th of them.
            var chunk = indices.AsSpan(start, lengths[c]);
            var local = chunkRanks.AsSpan(0, lengths[c]);
            for (int j = 0; j < chunk.Length; j++) local[j] = ranks[chunk[j]];
            if (counts[c] > 0)
            {
                local.Sort();
                int threshold = local[(int)counts[c] - 1];
                foreach (int i in chunk) if (ranks[i] <= threshold) pruned[i] = true;
            }
            start += lengths[c];
        }
        return pruned;
    }

    /// <summary>Orders weight indices by |w| ascending, then by index (a total order).</summary>
    private readonly struct MagnitudeThenIndex(double[] magnitude) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int c = magnitude[a].CompareTo(magnitude[b]);
            return c != 0 ? c : a.CompareTo(b);
        }
    }
}
