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

    /// <summary>Called with every mask whose real loss CBS-S computes (each randomised start, then the mask after each
    /// swap-search iteration that accepted a swap), in order; the mask is a copy. Null (the default) costs nothing.
    /// For tests and diagnostics: the returned mask must be the evaluated one of lowest loss.</summary>
    public Action<CbsEvaluatedMask>? OnMaskEvaluated { get; init; }

    /// <summary>The real loss of a mask is evaluated in batches of up to <see cref="Evaluator.DefaultBatchSize"/>.</summary>
    public int LossEvaluationExamples(PruningOptions options) => Math.Min(Evaluator.DefaultBatchSize, options.CbsLossSamples);

    public Tensor SelectKeep(PruningContext context, PruneTarget target)
    {
        var o = context.Options;
        var fisher = FisherProvider.For(context, "cbs-s");
        var train = context.RequireTrainData("cbs-s");
        var w = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64).data<double>().ToArray();
        int d = w.Length;
        long k = target.CountOf(d);
        var lossSamples = train.RandomSubset(Math.Min(o.CbsLossSamples, train.Count), unchecked(context.Seed * 7919 + 17));
        var realLoss = new RealLoss(context, lossSamples, OnMaskEvaluated);

        // 1. Start: the best of the randomised magnitude masks, scored by the real loss.
        bool[]? start = null;
        double startLoss = double.PositiveInfinity;
        int startCandidate = -1;
        using (var task = context.Progress.Start("CBS-S: scoring randomised magnitude starts", o.CbsCandidates))
        {
            for (int t = 0; t < o.CbsCandidates; t++)
            {
                var pruned = RandomizedMagnitude.Pruned(w, k, t);
                double loss = realLoss.Of(pruned, CbsStage.Start, t);
                if (loss < startLoss) { startLoss = loss; start = pruned; startCandidate = t; }
                task.Advance();
            }
        }
        var search = new SwapSearch(fisher, w, start!);
        double f0 = search.F;
        double epsilon = o.CbsRelativeEpsilon ? o.CbsEpsilon * f0 : o.CbsEpsilon;
        context.Progress.Info($"CBS-S start: candidate {startCandidate} of {o.CbsCandidates}, real loss {startLoss:G5}, f(P) {f0:G5}, ε {epsilon:G3}");

        // 2. Swap local search; keep the iteration whose mask has the lowest real loss.
        var best = (bool[])start!.Clone();
        double bestLoss = startLoss;
        int nonImproving = 0, totalSwaps = 0;
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
                double loss = realLoss.Of(search.Pruned, CbsStage.Iteration, iteration);
                context.Progress.Info($"CBS-S iteration {iteration}: {swaps} swaps accepted, f(P) {search.F:G5}, real loss {loss:G5}");
                task.Description = $"CBS-S: iteration {iteration}, {totalSwaps} swaps, f(P) {search.F:G4}, loss {loss:G4}";
                if (loss < bestLoss)
                {
                    bestLoss = loss;
                    best = (bool[])search.Pruned.Clone();
                    nonImproving = 0;
                }
                else if (++nonImproving >= 5)
                {
                    break;
                }
            }
        }
        context.Progress.Info($"CBS-S done: {totalSwaps} swaps accepted; real loss {startLoss:G5} (start) → {bestLoss:G5} (kept mask)");
        var keep = best.Select(p => !p).ToArray();
        return tensor(keep);
    }

    /// <summary>The real loss on training samples of the model with the pruned weights zeroed (no update).</summary>
    private sealed class RealLoss(PruningContext context, int[] samples, Action<CbsEvaluatedMask>? observer)
    {
        public double Of(bool[] pruned, CbsStage stage, int index)
        {
            double loss = Evaluate(pruned);
            observer?.Invoke(new CbsEvaluatedMask(stage, index, (bool[])pruned.Clone(), loss));
            return loss;
        }

        private double Evaluate(bool[] pruned)
        {
            using var scope = NewDisposeScope();
            var original = PrunableParameters.Flatten(context.Parameters);
            var keep = tensor(pruned.Select(p => !p).ToArray()).to(original.device);
            PrunableParameters.Assign(context.Parameters, original * keep);
            try
            {
                return Evaluator.Evaluate(context.Model, context.TrainData!, device: context.Device, indices: samples).Loss;
            }
            finally
            {
                PrunableParameters.Assign(context.Parameters, original);
            }
        }
    }
}

/// <summary>Which part of CBS-S scored a mask: a randomised magnitude start, or the swap search after an iteration.</summary>
internal enum CbsStage { Start, Iteration }

/// <summary>A mask CBS-S scored by its real loss: <paramref name="Index"/> is the start's candidate number t or the
/// iteration number (from 1); <paramref name="Pruned"/> marks the pruned weights in flattened prunable order.</summary>
internal sealed record CbsEvaluatedMask(CbsStage Stage, int Index, bool[] Pruned, double Loss);

/// <summary>
/// The randomised magnitude masks of the CBS start. Candidate 0 is global magnitude; candidate t shuffles the weight
/// indices with seed t, splits them into min(⌊√d⌋, 1000) chunks and prunes the smallest |w| within each chunk.
/// Unlike the authors' code (which rounds up per chunk and so prunes fewer weights than asked), the per-chunk counts
/// sum to exactly k.
/// </summary>
internal static class RandomizedMagnitude
{
    public static bool[] Pruned(double[] w, long k, int candidate)
    {
        int d = w.Length;
        var pruned = new bool[d];
        if (candidate == 0)
        {
            var order = Enumerable.Range(0, d).OrderBy(i => Math.Abs(w[i])).ThenBy(i => i).Take((int)k);
            foreach (int i in order) pruned[i] = true;
            return pruned;
        }
        var indices = Enumerable.Range(0, d).ToArray();
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
        int start = 0;
        for (int c = 0; c < chunks; c++)
        {
            var chunk = indices.AsSpan(start, lengths[c]).ToArray();
            foreach (int i in chunk.OrderBy(i => Math.Abs(w[i])).ThenBy(i => i).Take((int)counts[c]))
                pruned[i] = true;
            start += lengths[c];
        }
        return pruned;
    }
}
