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
/// support's columns (G_Sβ_S), with Gᵀ (Gᵀ·u, length d), hard
/// thresholds, backsolves, the power iteration and the whole solve.</summary>
internal sealed class ChitaProfile
{
    public int GTimes, SparseTimes, GTransposeTimes, Thresholds, Backsolves;
    public double GTimesSeconds, SparseTimesSeconds, GTransposeTimesSeconds, ThresholdSeconds, BacksolveSeconds, PowerSeconds, TotalSeconds;

    public override string ToString() =>
        $"{TotalSeconds:F2} s: {GTimes} G·v {GTimesSeconds:F2} s, {SparseTimes} G_S·β_S {SparseTimesSeconds:F2} s, " +
        $"{GTransposeTimes} Gᵀ·u {GTransposeTimesSeconds:F2} s, " +
        $"{Thresholds} thresholds {ThresholdSeconds:F2} s, {Backsolves} backsolves {BacksolveSeconds:F2} s, power iteration {PowerSeconds:F2} s";
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
    public static ChitaResult Solve(EmpiricalFisher fisher, double[] w, bool[] startKeep, bool[]? allowed, int maxIterations,
        int swapCandidates = 0, int maxSwaps = 0)
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
                allowed?.AsSpan(offset, length).ToArray(), k, profile);
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
        private readonly double lipschitz;
        private readonly ChitaProfile profile;
        private readonly SupportColumns? columns;                      // the support's columns when k ≤ L/5
        private readonly double[] gw = [];                             // G_b w̄ in float64, with the columns
        private readonly List<(bool[] Keep, double[] Beta)> solved = []; // the last backsolves, newest last
        private const int RememberedBacksolves = 4;

        public BlockSolver(EmpiricalFisher fisher, FisherBlock block, double[] w, bool[]? allowed, int k, ChitaProfile profile)
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
            }
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            lipschitz = LargestEigenvalue() + fisher.Lambda;
            profile.PowerSeconds += System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
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

        /// <summary>IHT steps from <paramref name="beta"/> (updated in place); returns the steps taken.</summary>
        public int Run(double[] beta, int k, int maxIterations, List<double> trace)
        {
            LastSupport = null;
            var d = Difference(beta);
            var gd = Residual(beta);
            double q = 0.5 * (Dot(gd, gd) / fisher.N + fisher.Lambda * Dot(d, d));
            double eta = 1 / lipschitz;
            int steps = 0;
            for (; steps < maxIterations; steps++)
            {
                var grad = TransposeTimes(gd);
                for (int i = 0; i < grad.Length; i++) grad[i] = grad[i] / fisher.N + fisher.Lambda * d[i];
                // Line search: from the last accepted step, double while Q keeps falling; if the first try does not lower Q,
                // halve until it does. The best step tried is taken.
                bool accepted = false;
                double[] candidate = [], cd = [], cgd = [];
                bool[] support = [];
                double cq = q, bestEta = eta;
                bool growing = true;
                double tryEta = eta;
                for (int h = 0; h < MaxHalvings; h++)
                {
                    var (tBeta, tSupport) = Threshold(beta, grad, tryEta, k);
                    var td = Difference(tBeta);
                    var tgd = Residual(tBeta, tSupport);
                    double tq = 0.5 * (Dot(tgd, tgd) / fisher.N + fisher.Lambda * Dot(td, td));
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
                        growing = false;
                        tryEta /= 2;
                    }
                }
                if (!accepted) break;
                Array.Copy(candidate, beta, beta.Length);
                LastSupport = support;
                double drop = q - cq;
                q = cq;
                d = cd;
                gd = cgd;
                eta = bestEta;
                trace.Add(q);
                if (drop <= RelativeTolerance * Math.Abs(q)) { steps++; break; }
            }
            return steps;
        }

        /// <summary>H_k(β − ηg): the k largest |z| among the allowed weights, ties by position (then the disallowed ones, by
        /// position, should k exceed the allowed). The k-th largest is found by selection, O(n), not by a sort.</summary>
        private (double[] Beta, bool[] Support) Threshold(double[] beta, double[] grad, double eta, int k)
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

        private double[] Difference(double[] beta)
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

        /// <summary>λ_max(G_bᵀG_b/N) ≤ the result: the power iteration's Rayleigh quotient, raised by 5 % (the line search
        /// only starts from 1/L, so a loose bound costs nothing but a halving).</summary>
        private double LargestEigenvalue()
        {
            var v = Enumerable.Repeat(1.0, (int)block.Length).ToArray();
            double rayleigh = 0;
            for (int i = 0; i < 30; i++)
            {
                double norm = Math.Sqrt(Dot(v, v));
                if (!(norm > 0)) break;
                for (int j = 0; j < v.Length; j++) v[j] /= norm;
                var gv = Times(v);
                rayleigh = Dot(gv, gv) / fisher.N;
                v = TransposeTimes(gv);
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
