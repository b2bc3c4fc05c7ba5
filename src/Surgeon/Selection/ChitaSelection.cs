using Surgeon.Numerics;
using Surgeon.Compression;
using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// The selection of CHITA (Benbaki et al., ICML 2023, arXiv:2302.14623): the support of
/// min_β ½‖Gw̄ − Gβ‖²/N + λ₂‖β − w̄‖² s.t. ‖β‖₀ ≤ k (λ₂ = λ/2, so the quadratic is ½(β − w̄)ᵀF_λ(β − w̄)), found by
/// iterative hard thresholding with a line search, each support then refined by the backsolve. The method
/// <c>chita</c> is this selection followed by the backsolve update. Per Fisher block (--block-size) the counts come from
/// the global magnitude threshold and every block is solved on its own (the objective separates).
/// </summary>
internal sealed class ChitaSelection(bool swaps = false) : IJointSelection, IUsesFisher
{
    public string Name => swaps ? "chita-swap-s" : "chita-s";
    public string Description => swaps
        ? "CHITA selection with the swap (active-set) refinement: IHT, then swaps of the --chita-swap-candidates most promising pruned/kept pairs judged by the exact backsolve"
        : "CHITA selection: ℓ0-constrained ridge regression on the per-sample gradients by IHT with a line search from the backsolved magnitude support";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    /// <summary>w̄, β, the gradient, the step's point and candidate, the threshold keys (8 each: 48), the sort order (4),
    /// the keep, allowed and start masks (3), the float32 vectors passed to G (8), rounded up to 64.</summary>
    public int BookkeepingBytesPerWeight => 64;

    public FisherWork Work => FisherWork.KeptSetSolve | FisherWork.SupportColumns;

    public int LossEvaluationExamples(PruningOptions options) => 0;

    public Tensor SelectKeep(PruningContext context, PruneTarget target)
    {
        var fisher = FisherProvider.For(context, Name);
        using var scope = NewDisposeScope();
        var flat = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64);
        long pruneCount = target.CountOf(flat.numel());
        using var start = GlobalRule.KeepTop(context.Parameters, flat.abs(), pruneCount, context.Mask);
        var allowed = context.Mask?.Keep.data<bool>().ToArray();
        var w = flat.data<double>().ToArray();
        var result = ChitaIht.Solve(fisher, w, start.Keep.data<bool>().ToArray(), allowed,
            context.Options.ChitaIterations, swaps ? context.Options.ChitaSwapCandidates : 0, context.Options.ChitaMaxSwaps);
        KnownBacksolve.Store(context, fisher, w, result.Keep, result.Beta);
        context.Progress.Info($"CHITA: {result.Iterations} IHT steps in {result.Rounds} round(s), {result.Swaps} swaps; Q {result.StartObjective:G5} (backsolved magnitude support) → {result.Objective:G5}; {result.Profile}");
        return tensor(result.Keep).MoveToOuterDisposeScope();
    }
}

/// <summary>What <see cref="ChitaIht.Solve"/> found: the kept support, β (the backsolve on it), Q at the start (the
/// backsolved start support) and at the end, every block's objective after each accepted IHT step and each backsolve.</summary>
internal sealed record ChitaResult(bool[] Keep, double[] Beta, double StartObjective, double Objective, int Iterations,
    int Rounds, int Swaps, IReadOnlyList<IReadOnlyList<double>> BlockObjectives)
{
    /// <summary>Where the solve's time went.</summary>
    public ChitaProfile Profile { get; init; } = new();
}

/// <summary>Seconds and counts of CHITA's parts: products with G (G·v, length N, the power iteration's), with the
/// support's columns (G_Sβ_S), with Gᵀ (Gᵀ·u, length d), hard thresholds, backsolves, the power iterations, the whole
/// solve, and with an active set: gathering its columns, products with them, whole-block checks.</summary>
internal sealed class ChitaProfile
{
    public int GTimes, SparseTimes, GTransposeTimes, Thresholds, Backsolves, ActiveProducts, ActiveChecks, ActiveSize;
    public double GTimesSeconds, SparseTimesSeconds, GTransposeTimesSeconds, ThresholdSeconds, BacksolveSeconds, PowerSeconds, TotalSeconds,
        ActiveProductSeconds, ActiveGatherSeconds;

    public override string ToString() =>
        $"{TotalSeconds:F2} s: {GTimes} G·v {GTimesSeconds:F2} s, {SparseTimes} G_S·β_S {SparseTimesSeconds:F2} s, " +
        $"{GTransposeTimes} Gᵀ·u {GTransposeTimesSeconds:F2} s, " +
        $"{Thresholds} thresholds {ThresholdSeconds:F2} s, {Backsolves} backsolves {BacksolveSeconds:F2} s, power iteration {PowerSeconds:F2} s" +
        (ActiveSize > 0 ? $"; active set (last {ActiveSize}): gathers {ActiveGatherSeconds:F2} s, {ActiveProducts} G_A products {ActiveProductSeconds:F2} s, {ActiveChecks} whole-block checks" : "");
}

/// <summary>
/// Iterative hard thresholding for min ½(β − w̄)ᵀF_λ(β − w̄) s.t. at most k_b nonzeros in block b, with F_λ applied
/// through G (never a d×d matrix). A step is β⁺ = H_k(β − η∇Q(β)), ∇Q = F_λ(β − w̄); the line search starts from twice
/// the last accepted step (at first 1/L, L ≥ λ_max(F_λ) estimated by power iteration) and halves it until Q decreases,
/// so the objective never increases (no step is taken when none decreases it). Each IHT run is followed by the
/// backsolve on its support (exact on that support, so Q only falls), and IHT restarts from there until the
/// support stops changing. The start is the backsolve on the given (magnitude) support, so the result is never worse
/// than CHITA-BSO.
/// </summary>
internal static class ChitaIht
{
    /// <summary>Rounds of IHT then backsolve before giving up on the support settling.</summary>
    public const int MaxRounds = 5;
    /// <summary>An IHT run stops when a step lowers Q by less than this fraction.</summary>
    public const double RelativeTolerance = 1e-7;
    private const int MaxHalvings = 40;

    /// <param name="w">w̄, flat.</param>
    /// <param name="startKeep">The start support (its per-block counts are the k_b kept).</param>
    /// <param name="allowed">Weights that may be kept (null = all): already pruned ones stay pruned.</param>
    /// <param name="maxIterations">IHT steps per block and round at most.</param>
    /// <param name="swapCandidates">m &gt; 0: after IHT, a swap search (the active-set refinement) over the m pruned
    /// weights of largest |∇Q| and the m kept weights of smallest β²F_λ,ii, each swap judged by the exact backsolved Q,
    /// first improvement taken, until no swap of the m×m improves or <paramref name="maxSwaps"/> were made.</param>
    /// <param name="activeSet">Run IHT on active sets where the support is sparse (k ≤ L/5); false: always on the whole block.</param>
    public static ChitaResult Solve(EmpiricalFisher fisher, double[] w, bool[] startKeep, bool[]? allowed, int maxIterations,
        int swapCandidates = 0, int maxSwaps = 0, bool activeSet = true)
    {
        if (w.Length != fisher.D || startKeep.Length != fisher.D || (allowed is not null && allowed.Length != fisher.D))
            throw new ArgumentException($"CHITA needs {fisher.D} weights, keep and allowed flags");
        using var scope = NewDisposeScope();
        var total = System.Diagnostics.Stopwatch.StartNew();
        var profile = new ChitaProfile();
        var wT = tensor(w);
        var beta = RidgeBacksolve.Solve(fisher, wT, tensor(startKeep)).cpu().data<double>().ToArray();
        double startQ = RidgeBacksolve.Objective(fisher, wT, tensor(beta));
        var keep = (bool[])startKeep.Clone();
        var traces = new List<IReadOnlyList<double>>();
        int iterations = 0, rounds = 0, swaps = 0;
        foreach (var block in fisher.Blocks)
        {
            int offset = (int)block.Offset, length = (int)block.Length;
            int k = keep.AsSpan(offset, length).ToArray().Count(x => x);
            using var solver = new BlockSolver(fisher, block, w.AsSpan(offset, length).ToArray(),
                allowed?.AsSpan(offset, length).ToArray(), k, profile, activeSet);
            // Two starts: the backsolved magnitude support (so the result is never worse than CHITA-BSO) and H_k(w̄), the
            // magnitude point itself (IHT's first iterate from w̄), which is farther from the BSO fixed point; the lower
            // final Q wins.
            var magnitudePoint = w.AsSpan(offset, length).ToArray();
            for (int i = 0; i < length; i++) if (!keep[offset + i]) magnitudePoint[i] = 0;
            var starts = new[] { beta.AsSpan(offset, length).ToArray(), magnitudePoint };
            double[] bBeta = starts[0];
            var bKeep = keep.AsSpan(offset, length).ToArray();
            solver.Remember(bKeep, bBeta);
            double bestQ = solver.Objective(bBeta);
            if (k < length)
            {
                var startKeepB = (bool[])bKeep.Clone();
                foreach (var startBeta in starts)
                {
                    var runBeta = (double[])startBeta.Clone();
                    var runKeep = (bool[])startKeepB.Clone();
                    var runTrace = new List<double> { solver.Objective(runBeta) };
                    for (int round = 1; round <= MaxRounds; round++)
                    {
                        rounds = Math.Max(rounds, round);
                        iterations += solver.Run(runBeta, k, maxIterations, runTrace);
                        // The support H_k chose (β may hold exact zeros inside it); unchanged when no step was taken.
                        var newKeep = solver.LastSupport ?? runKeep;
                        bool same = newKeep.AsSpan().SequenceEqual(runKeep);
                        runKeep = newKeep;
                        runBeta = solver.Backsolve(runKeep);
                        runTrace.Add(solver.Objective(runBeta));
                        if (same) break;
                    }
                    traces.Add(runTrace);
                    if (runTrace[^1] < bestQ)
                    {
                        bestQ = runTrace[^1];
                        bBeta = runBeta;
                        bKeep = runKeep;
                    }
                }
            }
            if (swapCandidates > 0 && k < length && k > 0)
                swaps += solver.SwapSearch(ref bBeta, ref bKeep, ref bestQ, swapCandidates, maxSwaps - swaps, traces);
            Array.Copy(bBeta, 0, beta, offset, length);
            Array.Copy(bKeep, 0, keep, offset, length);
        }
        double q = RidgeBacksolve.Objective(fisher, wT, tensor(beta));
        profile.TotalSeconds = total.Elapsed.TotalSeconds;
        return new ChitaResult(keep, beta, startQ, q, iterations, rounds, swaps, traces) { Profile = profile };
    }

    /// <summary>IHT on one Fisher block: Q_b(β) = ½‖G_b(β − w̄)‖²/N + (λ/2)‖β − w̄‖².</summary>
    private sealed class BlockSolver : IDisposable
    {
        private readonly EmpiricalFisher fisher;
        private readonly FisherBlock block;
        private readonly Tensor g;
        private readonly double[] w;
        private readonly bool[]? allowed;
        private double? lipschitz;                                     // of the whole block, when first needed
        private readonly ActiveColumns? activeColumns;                 // IHT on an active set (k ≤ L/5): its columns
        private bool activeSet => activeColumns is not null;
        private readonly ChitaProfile profile;
        private readonly SupportColumns? columns;                      // the support's columns when k ≤ L/5
        private readonly double[] gw = [];                             // G_b w̄ in float64, with the columns
        private readonly List<(bool[] Keep, double[] Beta)> solved = []; // the last backsolves, newest last
        private const int RememberedBacksolves = 4;

        public BlockSolver(EmpiricalFisher fisher, FisherBlock block, double[] w, bool[]? allowed, int k, ChitaProfile profile,
            bool activeSetAllowed = true)
        {
            this.fisher = fisher;
            this.block = block;
            g = fisher.Columns(block);
            this.w = w;
            this.allowed = allowed;
            this.profile = profile;
            if (SupportColumns.Worthwhile(k, w.Length, fisher.N, g.element_size()))
            {
                columns = new SupportColumns(g, k);
                gw = Times(w);
                if (activeSetAllowed && ActiveSetWorthwhile(k, w.Length, fisher.N, g.element_size()))
                {
                    int capacity = ActiveCapacity(k, w.Length, fisher.N, g.element_size());
                    if (ActiveColumns.Supports(g, capacity)) activeColumns = new ActiveColumns(g, capacity);
                }
            }
        }

        /// <summary>L ≥ λ_max(F_λ) of the whole block, by power iteration (only IHT on the whole block needs it).</summary>
        private double FullLipschitz()
        {
            if (lipschitz is double known) return known;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            lipschitz = PowerIteration((int)block.Length, Times, TransposeTimes, earlyStop: false) + fisher.Lambda;
            profile.PowerSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            return lipschitz.Value;
        }

        /// <summary>The support of the last accepted step (null before any).</summary>
        public bool[]? LastSupport { get; private set; }

        public double Objective(double[] beta)
        {
            var d = Difference(beta);
            var gd = Residual(beta);
            return 0.5 * (Dot(gd, gd) / fisher.N + fisher.Lambda * Dot(d, d));
        }

        /// <summary>Records <paramref name="beta"/> as the backsolve on <paramref name="keep"/> (e.g. the start's, solved for
        /// the whole model at once), so <see cref="Backsolve"/> returns it instead of solving again.</summary>
        public void Remember(bool[] keep, double[] beta)
        {
            if (solved.Count == RememberedBacksolves) solved.RemoveAt(0);
            solved.Add(((bool[])keep.Clone(), (double[])beta.Clone()));
        }

        /// <summary>The backsolve on <paramref name="keep"/>; one of the last few is returned as it was (an IHT run that
        /// ends on its start support, the common case, would otherwise repeat the start's N×N solve).</summary>
        public double[] Backsolve(bool[] keep)
        {
            foreach (var (k, b) in solved)
                if (k.AsSpan().SequenceEqual(keep)) return (double[])b.Clone();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            profile.Backsolves++;
            using var scope = NewDisposeScope();
            // A Fisher over a view of this block's columns (disposing it frees the view, not G).
            var sub = new EmpiricalFisher(fisher.Columns(block), fisher.Lambda, [new FisherBlock(0, block.Length)]);
            try
            {
                var beta = RidgeBacksolve.Solve(sub, tensor(w), tensor(keep)).cpu().data<double>().ToArray();
                Remember(keep, beta);
                return beta;
            }
            finally
            {
                sub.Dispose();
                profile.BacksolveSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
        }

        /// <summary>The swap search from a backsolved support (see <see cref="Solve"/>); returns the swaps accepted and
        /// appends the objective after each to a new trace.</summary>
        public int SwapSearch(ref double[] beta, ref bool[] keep, ref double q, int m, int maxSwaps, List<IReadOnlyList<double>> traces)
        {
            var trace = new List<double> { q };
            int accepted = 0;
            var diagonal = Diagonal();
            while (accepted < maxSwaps)
            {
                var d = Difference(beta);
                var grad = TransposeTimes(Residual(beta));
                for (int i = 0; i < grad.Length; i++) grad[i] = grad[i] / fisher.N + fisher.Lambda * d[i];
                var b = beta;
                var kept = keep;
                var entering = Enumerable.Range(0, beta.Length).Where(j => !kept[j] && (allowed is null || allowed[j]))
                    .OrderByDescending(j => Math.Abs(grad[j])).ThenBy(j => j).Take(m).ToArray();
                var leaving = Enumerable.Range(0, beta.Length).Where(i => kept[i])
                    .OrderBy(i => b[i] * b[i] * diagonal[i]).ThenBy(i => i).Take(m).ToArray();
                bool improved = false;
                foreach (int j in entering)
                {
                    foreach (int i in leaving)
                    {
                        var trial = (bool[])keep.Clone();
                        trial[i] = false;
                        trial[j] = true;
                        var trialBeta = Backsolve(trial);
                        double trialQ = Objective(trialBeta);
                        if (trialQ < q - 1e-12 * Math.Abs(q))
                        {
                            (beta, keep, q, improved) = (trialBeta, trial, trialQ, true);
                            break;
                        }
                    }
                    if (improved) break;
                }
                if (!improved) break;
                accepted++;
                trace.Add(q);
            }
            traces.Add(trace);
            return accepted;
        }

        /// <summary>diag(F_λ) of the block.</summary>
        private double[] Diagonal()
        {
            using var scope = NewDisposeScope();
            var diag = g.to(ScalarType.Float64).Squared().sum(dim: 0).div_(HeldScalars.Of(fisher.N)).data<double>().ToArray();
            for (int i = 0; i < diag.Length; i++) diag[i] += fisher.Lambda;
            return diag;
        }

        /// <summary>IHT steps from <paramref name="beta"/> (updated in place); returns the steps taken. With an active set
        /// (<see cref="ActiveSetWorthwhile"/>) the steps run on A = the support and the k pruned weights of largest |∇Q|
        /// (G_A's columns cached, so a gradient reads 2k·N numbers, not L·N); when they stop, one step of the whole block
        /// (the same line search) checks for weights outside A: none taken or a drop below the tolerance ends the run,
        /// as it would end IHT on the whole block; otherwise A gains the step's new support weights and the steps go on.
        /// (The authors' Active_IHTCDLS does the same with a search over step sizes for the outliers.)</summary>
        public int Run(double[] beta, int k, int maxIterations, List<double> trace)
        {
            LastSupport = null;
            var whole = WholeBlock();
            if (!activeSet)
            {
                double eta0 = 1 / FullLipschitz();
                int n = Iterate(whole, beta, k, maxIterations, ref eta0, trace, out var support, out _);
                LastSupport = support;
                return n;
            }
            int steps = 0;
            var store = activeColumns!;
            bool Add(IEnumerable<int> columns)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                bool added = store.TryAdd(columns);
                profile.ActiveGatherSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
                return added;
            }
            var wanted = InitialActiveSet(beta, k);
            if (!Add(wanted))
            {
                store.Clear();
                Add(wanted);
            }
            double eta = double.NaN;
            Coordinates? sub = null;
            int version = -1;
            while (steps < maxIterations)
            {
                if (sub is null || version != store.Version)
                {
                    sub = ActiveProblem(withLipschitz: double.IsNaN(eta));
                    version = store.Version;
                }
                if (double.IsNaN(eta)) eta = 1 / sub.Lipschitz;
                var active = store.Columns;
                var betaA = active.Select(j => beta[j]).ToArray();
                steps += Iterate(sub, betaA, k, maxIterations - steps, ref eta, trace, out var supportA, out _);
                for (int i = 0; i < active.Count; i++) beta[active[i]] = betaA[i];
                if (supportA is not null)
                {
                    LastSupport = new bool[beta.Length];
                    for (int i = 0; i < active.Count; i++) LastSupport[active[i]] = supportA[i];
                }
                if (steps >= maxIterations) break;
                profile.ActiveChecks++;
                steps += Iterate(whole, beta, k, 1, ref eta, trace, out var supportW, out var stop);
                if (supportW is null) break;
                LastSupport = supportW;
                if (stop == IhtStop.SmallDrop) break;
                var outliers = Enumerable.Range(0, beta.Length).Where(j => supportW[j] && !store.Contains(j)).ToList();
                if (outliers.Count > 0 && !Add(outliers))
                {
                    // A outgrew the copy: start again from the step's support and the weights IHT would bring in next
                    store.Clear();
                    Add(InitialActiveSet(beta, k));
                }
            }
            return steps;
        }

        private enum IhtStop { NoStep, SmallDrop, MaxSteps }

        /// <summary>The coordinates a run of IHT steps works on: the whole block, or an active set A of it. β and w̄ are over
        /// the coordinates; β is zero off them, so Q = ½(‖G_Aβ_A − G_b w̄‖²/N + λ‖β_A − w̄_A‖² + λ‖w̄ off A‖²).</summary>
        private sealed class Coordinates(double[] w, bool[]? allowed, double offSquares,
            Func<double[], double[]> transposeTimes, Func<double[], bool[], double[]> residual, double lipschitz)
        {
            public double[] W { get; } = w;
            public bool[]? Allowed { get; } = allowed;
            public double OffSquares { get; } = offSquares;
            /// <summary>G_Aᵀu (length |A|).</summary>
            public Func<double[], double[]> TransposeTimes { get; } = transposeTimes;
            /// <summary>G_Aβ_A − G_b w̄ (length N) for β zero off the given support.</summary>
            public Func<double[], bool[], double[]> Residual { get; } = residual;
            public double Lipschitz { get; } = lipschitz;
        }

        private Coordinates WholeBlock() => new(w, allowed, 0, TransposeTimes, Residual, double.NaN);

        /// <summary>Whether IHT runs on an active set: the support is sparse enough for the column cache (k ≤ L/5) and
        /// 2k + 16 columns of G fit <see cref="KeptColumns.ChunkBytes"/>.</summary>
        internal static bool ActiveSetWorthwhile(int k, int length, int n, long elementSize) =>
            SupportColumns.Worthwhile(k, length, n, elementSize) && (2L * k + 16) * n * elementSize <= KeptColumns.ChunkBytes;

        /// <summary>Columns the active set may grow to: 3k (room for the second start's and the outliers), at least
        /// 2k + 16, at most L and <see cref="KeptColumns.ChunkBytes"/>.</summary>
        private static int ActiveCapacity(int k, int length, int n, long elementSize) =>
            (int)Math.Min(length, Math.Min(Math.Max(3L * k, 2L * k + 16), KeptColumns.ChunkBytes / (n * elementSize)));

        /// <summary>supp(β) and the k allowed weights off it of largest |∇Q(β)| (those IHT would bring in first), sorted.</summary>
        private int[] InitialActiveSet(double[] beta, int k)
        {
            var d = Difference(beta);
            var grad = TransposeTimes(Residual(beta));
            var score = new double[beta.Length];
            for (int i = 0; i < grad.Length; i++)
                score[i] = beta[i] != 0 || (allowed is not null && !allowed[i]) ? double.NegativeInfinity : Math.Abs(grad[i] / fisher.N + fisher.Lambda * d[i]);
            int outside = score.Count(x => x > double.NegativeInfinity);
            var chosen = new HashSet<int>(Enumerable.Range(0, beta.Length).Where(i => beta[i] != 0));
            if (outside > 0 && k > 0)
            {
                int m = Math.Min(k, outside);
                double kth = KthLargest((double[])score.Clone(), m);
                int count = 0;
                for (int i = 0; i < score.Length && count < m; i++)
                    if (score[i] > kth) { chosen.Add(i); count++; }
                for (int i = 0; i < score.Length && count < m; i++)
                    if (score[i] == kth) { chosen.Add(i); count++; }
            }
            return [.. chosen.Order()];
        }

        /// <summary>The problem on the active set (the columns held in <see cref="activeColumns"/>, in their order), with
        /// λ_max(G_AᵀG_A/N) by power iteration if asked (else NaN).</summary>
        private Coordinates ActiveProblem(bool withLipschitz)
        {
            var store = activeColumns!;
            var active = store.Columns.ToArray();
            double off = 0;
            var inActive = new bool[w.Length];
            foreach (int j in active) inActive[j] = true;
            for (int j = 0; j < w.Length; j++) if (!inActive[j]) off += w[j] * w[j];
            double[] TimesT(double[] u) => ActiveProduct(() => store.TransposeTimes(u));
            double[] ResidualA(double[] b, bool[] support)
            {
                var r = ActiveProduct(() => store.Times(b));
                for (int i = 0; i < r.Length; i++) r[i] -= gw[i];
                return r;
            }
            // Only a run's first step size comes from L (the line search carries the step on), so later sets skip it.
            double lipschitz = double.NaN;
            if (withLipschitz)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                lipschitz = PowerIteration(active.Length, v => ActiveProduct(() => store.Times(v)), TimesT, earlyStop: true) + fisher.Lambda;
                profile.PowerSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
            profile.ActiveSize = active.Length;
            return new Coordinates(active.Select(j => w[j]).ToArray(), allowed is null ? null : active.Select(j => allowed[j]).ToArray(),
                off, TimesT, ResidualA, lipschitz);
        }

        private double[] ActiveProduct(Func<double[]> product)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            profile.ActiveProducts++;
            var result = product();
            profile.ActiveProductSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            return result;
        }

        /// <summary>IHT steps with the line search on <paramref name="c"/>'s coordinates from <paramref name="beta"/> (over
        /// them, updated in place) and step <paramref name="eta"/> (updated to the last accepted); returns the steps taken,
        /// the support of the last accepted step (null if none) and why it stopped.</summary>
        private int Iterate(Coordinates c, double[] beta, int k, int maxSteps, ref double eta, List<double> trace,
            out bool[]? lastSupport, out IhtStop stop)
        {
            lastSupport = null;
            stop = IhtStop.MaxSteps;
            var d = Difference(beta, c.W);
            var gd = c.Residual(beta, beta.Select(b => b != 0).ToArray());
            double q = 0.5 * (Dot(gd, gd) / fisher.N + fisher.Lambda * (Dot(d, d) + c.OffSquares));
            int steps = 0;
            for (; steps < maxSteps; steps++)
            {
                var grad = c.TransposeTimes(gd);
                for (int i = 0; i < grad.Length; i++) grad[i] = grad[i] / fisher.N + fisher.Lambda * d[i];
                // Line search: from the last accepted step, double while Q keeps falling; if the first try does not lower Q,
                // halve until it does. The best step tried is taken. Halving stops early when a trial keeps β's support:
                // such a step is β − ηg on the support, whose Q ≥ Q(β) − η‖g_S‖², so once η‖g_S‖² is within the
                // tolerance no smaller step could lower Q by more than the tolerance that ends the run anyway (at a
                // backsolved support g_S ≈ 0, and the 40 halvings found nothing but cost 40 thresholds and products).
                var current = beta.Select(b => b != 0).ToArray();
                double gradSupportSquared = 0;
                for (int i = 0; i < grad.Length; i++) if (current[i]) gradSupportSquared += grad[i] * grad[i];
                bool accepted = false;
                double[] candidate = [], cd = [], cgd = [];
                bool[] support = [];
                double cq = q, bestEta = eta;
                bool growing = true;
                double tryEta = eta;
                for (int h = 0; h < MaxHalvings; h++)
                {
                    var (tBeta, tSupport) = Threshold(beta, grad, tryEta, k, c.Allowed);
                    var td = Difference(tBeta, c.W);
                    var tgd = c.Residual(tBeta, tSupport);
                    double tq = 0.5 * (Dot(tgd, tgd) / fisher.N + fisher.Lambda * (Dot(td, td) + c.OffSquares));
                    if (tq < cq)
                    {
                        (candidate, support, cd, cgd, cq, bestEta, accepted) = (tBeta, tSupport, td, tgd, tq, tryEta, true);
                        if (!growing) break;
                        tryEta *= 2;
                    }
                    else if (accepted)
                    {
                        break;
                    }
                    else
                    {
                        if (tryEta * gradSupportSquared <= RelativeTolerance * Math.Abs(q) && tSupport.AsSpan().SequenceEqual(current)) break;
                        growing = false;
                        tryEta /= 2;
                    }
                }
                if (!accepted) { stop = IhtStop.NoStep; break; }
                Array.Copy(candidate, beta, beta.Length);
                lastSupport = support;
                double drop = q - cq;
                q = cq;
                d = cd;
                gd = cgd;
                eta = bestEta;
                trace.Add(q);
                if (drop <= RelativeTolerance * Math.Abs(q)) { steps++; stop = IhtStop.SmallDrop; break; }
            }
            return steps;
        }

        /// <summary>H_k(β − ηg): the k largest |z| among the allowed weights, ties by position (then the disallowed ones, by
        /// position, should k exceed the allowed). The k-th largest is found by selection, O(n), not by a sort.</summary>
        private (double[] Beta, bool[] Support) Threshold(double[] beta, double[] grad, double eta, int k, bool[]? allowed)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            profile.Thresholds++;
            int n = beta.Length;
            var z = new double[n];
            var values = new double[n];
            for (int i = 0; i < n; i++)
            {
                z[i] = beta[i] - eta * grad[i];
                values[i] = allowed is null || allowed[i] ? Math.Abs(z[i]) : double.NegativeInfinity;
            }
            var support = new bool[n];
            var result = new double[n];
            if (k > 0)
            {
                double kth = KthLargest((double[])values.Clone(), k);
                int count = 0;
                for (int i = 0; i < n; i++)
                    if (values[i] > kth) { support[i] = true; count++; }
                for (int i = 0; i < n && count < k; i++)
                    if (values[i] == kth) { support[i] = true; count++; }
            }
            for (int i = 0; i < n; i++) result[i] = support[i] ? z[i] : 0;
            profile.ThresholdSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            return (result, support);
        }

        /// <summary>The k-th largest of <paramref name="a"/> (1 ≤ k ≤ length; <paramref name="a"/> is reordered): quickselect
        /// with a median-of-three pivot and a three-way partition, so runs of equal values cost one pass.</summary>
        internal static double KthLargest(double[] a, int k)
        {
            int lo = 0, hi = a.Length - 1, target = k - 1;
            while (lo < hi)
            {
                int mid = lo + (hi - lo) / 2;
                double x = a[lo], y = a[mid], v = a[hi];
                double pivot = Math.Max(Math.Min(x, y), Math.Min(Math.Max(x, y), v));
                // descending: [lo, lt) > pivot, [lt, gt] == pivot, (gt, hi] < pivot
                int lt = lo, i = lo, gt = hi;
                while (i <= gt)
                {
                    if (a[i] > pivot) (a[lt], a[i], lt, i) = (a[i], a[lt], lt + 1, i + 1);
                    else if (a[i] < pivot) (a[i], a[gt], gt) = (a[gt], a[i], gt - 1);
                    else i++;
                }
                if (target < lt) hi = lt - 1;
                else if (target > gt) lo = gt + 1;
                else return pivot;
            }
            return a[lo];
        }

        private double[] Difference(double[] beta) => Difference(beta, w);

        private static double[] Difference(double[] beta, double[] w)
        {
            var d = new double[beta.Length];
            for (int i = 0; i < d.Length; i++) d[i] = beta[i] - w[i];
            return d;
        }

        /// <summary>G_b(β − w̄) in float64 (products in G's dtype), for β zero off <paramref name="support"/> (null: off its
        /// nonzeros). With a sparse support (k ≤ L/5) G_Sβ_S − G_b w̄, from the support's cached columns
        /// (<see cref="SupportColumns"/>), at about k/L of the cost of the product with all of G_b taken otherwise.</summary>
        private double[] Residual(double[] beta, bool[]? support = null)
        {
            if (columns is null) return Times(Difference(beta));
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            profile.SparseTimes++;
            support ??= beta.Select(b => b != 0).ToArray();
            var r = columns.Times(beta, support);
            for (int i = 0; i < r.Length; i++) r[i] -= gw[i];
            profile.SparseTimesSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            return r;
        }

        public void Dispose() => columns?.Dispose();

        /// <summary>G_b v (float32 product, in float64), all columns: the power iteration's.</summary>
        private double[] Times(double[] v)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            profile.GTimes++;
            using var scope = NewDisposeScope();
            var result = g.matmul(tensor(v).to(g.dtype)).to(ScalarType.Float64).data<double>().ToArray();
            profile.GTimesSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            return result;
        }

        private double[] TransposeTimes(double[] u)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            profile.GTransposeTimes++;
            using var scope = NewDisposeScope();
            var result = g.T.matmul(tensor(u).to(g.dtype)).to(ScalarType.Float64).data<double>().ToArray();
            profile.GTransposeTimesSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
            return result;
        }

        /// <summary>λ_max(GᵀG/N) ≤ the result for the G given by its products (<paramref name="times"/>: G·v of length N,
        /// <paramref name="transposeTimes"/>: Gᵀ·u of length <paramref name="length"/>): the power iteration's Rayleigh
        /// quotient, raised by 5 % (the line search only starts from 1/L, so a loose bound costs nothing but a halving).
        /// 30 iterations, or with <paramref name="earlyStop"/> until the quotient changes by less than 0.1 %.</summary>
        private double PowerIteration(int length, Func<double[], double[]> times, Func<double[], double[]> transposeTimes, bool earlyStop)
        {
            var v = Enumerable.Repeat(1.0, length).ToArray();
            double rayleigh = 0;
            for (int i = 0; i < 30; i++)
            {
                double norm = Math.Sqrt(Dot(v, v));
                if (!(norm > 0)) break;
                for (int j = 0; j < v.Length; j++) v[j] /= norm;
                var gv = times(v);
                double previous = rayleigh;
                rayleigh = Dot(gv, gv) / fisher.N;
                if (earlyStop && i > 0 && Math.Abs(rayleigh - previous) <= 1e-3 * rayleigh) break;
                v = transposeTimes(gv);
            }
            return 1.05 * rayleigh;
        }

        private static double Dot(double[] a, double[] b)
        {
            double s = 0;
            for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
            return s;
        }
    }
}
