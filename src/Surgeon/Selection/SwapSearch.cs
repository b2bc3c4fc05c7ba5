using Surgeon.Curvature;
using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// The state of the CBS-S swap search: the pruned set P, u = F(w⊙y) and f(P) = (w⊙y)·u, with α and β derived from u.
/// A swap (i out of P, j in) changes u by F_{·,j}w_j − F_{·,i}w_i.
/// </summary>
/// <remarks>
/// Why lazily: applying that change to all of u costs a full pass over G (N×d; 1.3 GB at N = 10,000 on MLPNet), and at
/// low sparsity one iteration accepts hundreds of swaps. Within an iteration only the u entries of the candidates
/// being looked at are needed, so accepted swaps are accumulated per Fisher block as z_b = Σ (w_j G[:,j] − w_i G[:,i])
/// (an N-vector), an entry is read as u_t + G[:,t]·z_b/N, and u is brought up to date with one G_bᵀz_b per block at
/// the end of the iteration. By linearity this gives the same α, β and γ as updating u after every swap.
/// </remarks>
internal sealed class SwapSearch
{
    private readonly EmpiricalFisher fisher;
    private readonly double[] w;
    private readonly double[] diagonal;
    private readonly double[] u;

    /// <summary>Scratch of <see cref="RankBothSets"/>, kept between iterations: weight indices and their sort keys.</summary>
    private int[]? order;
    private double[]? keys;

    /// <summary>Accepted swaps not yet applied to u: per block index, z_b = Σ ±w G[:,·] (float64, on G's device).</summary>
    private readonly Dictionary<int, Tensor> pending = [];

    public SwapSearch(EmpiricalFisher fisher, double[] w, bool[] pruned)
    {
        this.fisher = fisher;
        this.w = w;
        Pruned = (bool[])pruned.Clone();
        using var scope = NewDisposeScope();
        diagonal = fisher.Diagonal().to(ScalarType.Float64).cpu().data<double>().ToArray();
        var v = new double[w.Length];
        for (int i = 0; i < w.Length; i++) v[i] = Pruned[i] ? w[i] : 0;
        u = Times(v);
        F = Dot(v, u);
    }

    public bool[] Pruned { get; }

    /// <summary>f(P), kept up to date by adding each accepted swap's change.</summary>
    public double F { get; private set; }

    /// <summary>α_i = 2w_i u_i − w_i²F_ii: how much f drops when i leaves P.</summary>
    public double Alpha(int i)
    {
        Flush();
        return AlphaFrom(i, u[i]);
    }

    /// <summary>β_j = 2w_j u_j + w_j²F_jj: how much f grows when j joins P.</summary>
    public double Beta(int j)
    {
        Flush();
        return BetaFrom(j, u[j]);
    }

    private double AlphaFrom(int i, double ui) => 2 * w[i] * ui - w[i] * w[i] * diagonal[i];

    private double BetaFrom(int j, double uj) => 2 * w[j] * uj + w[j] * w[j] * diagonal[j];

    /// <summary>f(P) recomputed from scratch (for tests).</summary>
    public double Recompute()
    {
        var v = new double[w.Length];
        for (int i = 0; i < w.Length; i++) v[i] = Pruned[i] ? w[i] : 0;
        return Dot(v, Times(v));
    }

    /// <summary>Recomputes u from scratch (for tests of the bookkeeping).</summary>
    public double[] FreshU()
    {
        var v = new double[w.Length];
        for (int i = 0; i < w.Length; i++) v[i] = Pruned[i] ? w[i] : 0;
        return Times(v);
    }

    /// <summary>u = F(w⊙y), with every accepted swap applied.</summary>
    public double[] U
    {
        get
        {
            Flush();
            return u;
        }
    }

    /// <summary>
    /// One iteration: P sorted by α descending, the kept set by β ascending; for each i scan the kept weights within
    /// ±ρ ranks, first improving swap (change ≤ −ε) wins; stop after τ failed i's. Returns the swaps accepted.
    /// </summary>
    public int Iterate(double epsilon, int rho, int tau)
    {
        Flush();
        var (inP, outP) = RankBothSets();
        int swaps = 0, failures = 0;
        var candidates = new List<int>(2 * rho + 2);
        for (int r = 0; r < inP.Count && failures < tau; r++)
        {
            int i = inP[r];
            if (!Pruned[i]) continue;
            candidates.Clear();
            candidates.Add(i);
            for (int s = Math.Max(0, r - rho); s <= Math.Min(outP.Count - 1, r + rho); s++)
                if (!Pruned[outP[s]]) candidates.Add(outP[s]);
            bool accepted = false;
            if (candidates.Count > 1)
            {
                var (current, entries) = Look(candidates);
                double alpha = AlphaFrom(i, current[0]);
                for (int c = 1; c < candidates.Count; c++)
                {
                    int j = candidates[c];
                    double change = BetaFrom(j, current[c]) - alpha - 2 * w[i] * entries[c] * w[j];
                    if (change <= -epsilon)
                    {
                        Defer(i, j, change);
                        accepted = true;
                        swaps++;
                        break;
                    }
                }
            }
            if (!accepted) failures++;
        }
        Flush();
        return swaps;
    }

    /// <summary>
    /// P by α descending and the kept set by β ascending, ties by index (the order <see cref="IterateApplyingEachSwap"/>
    /// gets from LINQ), in two views of one reused index buffer. Why not LINQ here: its key, map and result arrays come to
    /// about 30 bytes per weight per iteration, which on a 3.2M-weight model left ~1 GB of large-object garbage behind.
    /// </summary>
    private (ArraySegment<int> InP, ArraySegment<int> OutP) RankBothSets()
    {
        int d = w.Length;
        order ??= new int[d];
        keys ??= new double[d];
        int front = 0, back = d;
        for (int t = 0; t < d; t++)
        {
            if (Pruned[t]) { order[front++] = t; keys[t] = AlphaFrom(t, u[t]); }
            else { order[--back] = t; keys[t] = BetaFrom(t, u[t]); }
        }
        var inP = order.AsSpan(0, front);
        var outP = order.AsSpan(front);
        inP.Sort(new KeyThenIndex(keys, descending: true));
        outP.Sort(new KeyThenIndex(keys, descending: false));
        return (new ArraySegment<int>(order, 0, front), new ArraySegment<int>(order, front, d - front));
    }

    /// <summary>Orders weight indices by keys[index], then by index ascending (a total order: the sort is deterministic).</summary>
    private readonly struct KeyThenIndex(double[] keys, bool descending) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int c = descending ? keys[b].CompareTo(keys[a]) : keys[a].CompareTo(keys[b]);
            return c != 0 ? c : a.CompareTo(b);
        }
    }

    /// <summary>
    /// The same iteration written the plain way, through the public α, β, F_ij and <see cref="Swap"/> (which applies
    /// each swap to all of u at once): the reference that the tests and the swap-search benchmark hold
    /// <see cref="Iterate"/> to (same swaps accepted), not meant for real use (one pass over G per swap).
    /// </summary>
    public int IterateApplyingEachSwap(double epsilon, int rho, int tau)
    {
        var inP = Enumerable.Range(0, w.Length).Where(i => Pruned[i]).OrderByDescending(Alpha).ThenBy(i => i).ToArray();
        var outP = Enumerable.Range(0, w.Length).Where(i => !Pruned[i]).OrderBy(Beta).ThenBy(i => i).ToArray();
        int swaps = 0, failures = 0;
        for (int r = 0; r < inP.Length && failures < tau; r++)
        {
            int i = inP[r];
            if (!Pruned[i]) continue;
            bool accepted = false;
            for (int s = Math.Max(0, r - rho); s <= Math.Min(outP.Length - 1, r + rho) && !accepted; s++)
            {
                int j = outP[s];
                if (Pruned[j]) continue;
                double change = Beta(j) - Alpha(i) - 2 * w[i] * fisher.Entry(i, j) * w[j];
                if (change <= -epsilon)
                {
                    Swap(i, j, change);
                    accepted = true;
                    swaps++;
                }
            }
            if (!accepted) failures++;
        }
        return swaps;
    }

    /// <summary>Moves i out of P and j into P, updating u and f.</summary>
    public void Swap(int i, int j, double change)
    {
        Defer(i, j, change);
        Flush();
    }

    /// <summary>
    /// For the weights t = <paramref name="indices"/>: u_t with the pending swaps applied, and F_{indices[0], t}.
    /// One gather of the columns of G serves both.
    /// </summary>
    private (double[] Current, double[] Entries) Look(List<int> indices)
    {
        using var scope = NewDisposeScope();
        int m = indices.Count;
        var blocks = indices.Select(t => fisher.BlockIndexOf(t)).ToArray();
        var columns = fisher.G.index_select(1, tensor(indices.Select(t => (long)t).ToArray(), device: fisher.G.device))
            .to(ScalarType.Float64);                                               // N×m
        var entries = columns.select(1, 0).matmul(columns).div_(HeldScalars.Of(fisher.N)).cpu().data<double>().ToArray();
        for (int c = 1; c < m; c++)
            if (blocks[c] != blocks[0]) entries[c] = 0;
        var current = new double[m];
        for (int c = 0; c < m; c++) current[c] = u[indices[c]];
        foreach (int b in blocks.Distinct())
        {
            if (!pending.TryGetValue(b, out var z)) continue;
            var delta = columns.t().matmul(z).div_(HeldScalars.Of(fisher.N)).cpu().data<double>().ToArray();
            for (int c = 0; c < m; c++)
                if (blocks[c] == b) current[c] += delta[c];
        }
        return (current, entries);
    }

    /// <summary>Records the swap in P, f and the pending z of the blocks of i and j; u is updated by <see cref="Flush"/>.</summary>
    private void Defer(int i, int j, double change)
    {
        Accumulate(j, w[j]);
        Accumulate(i, -w[i]);
        Pruned[i] = false;
        Pruned[j] = true;
        F += change;
    }

    private void Accumulate(int t, double coefficient)
    {
        int b = fisher.BlockIndexOf(t);
        using var scope = NewDisposeScope();
        using var scale = coefficient.ToScalar();   // held until the call returns (not a GC-finalised temporary)
        var column = fisher.G.select(1, t).to(ScalarType.Float64).mul(scale);   // not mul_: .to() of a float64 G is G itself
        if (pending.TryGetValue(b, out var z))
        {
            z.add_(column, HeldScalars.One);
        }
        else
        {
            pending[b] = column.DetachFromDisposeScope();
        }
    }

    /// <summary>Applies the pending swaps to u: u_b += G_bᵀz_b/N for each block with swaps.</summary>
    private void Flush()
    {
        if (pending.Count == 0) return;
        using var scope = NewDisposeScope();
        foreach (var (b, z) in pending)
        {
            var block = fisher.Blocks[b];
            var delta = fisher.Columns(block).t().matmul(z.to(fisher.G.dtype)).to(ScalarType.Float64)
                .div_(HeldScalars.Of(fisher.N)).cpu().data<double>().ToArray();
            for (long t = 0; t < block.Length; t++) u[block.Offset + t] += delta[t];
            z.Dispose();
        }
        pending.Clear();
    }

    private double[] Times(double[] v)
    {
        using var scope = NewDisposeScope();
        var t = tensor(v).to(fisher.G.device);
        return fisher.Times(t).to(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
