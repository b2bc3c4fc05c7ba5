using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// The state of the CBS-S swap search: the pruned set P, u = F(w⊙y) and f(P) = (w⊙y)·u, with α and β derived from u.
/// A swap (i out of P, j in) updates u by F_{·,j}w_j − F_{·,i}w_i, so α and β stay exact after every swap.
/// </summary>
public sealed class SwapSearch
{
    private readonly EmpiricalFisher fisher;
    private readonly double[] w;
    private readonly double[] diagonal;
    private double[] u;

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
    public double Alpha(int i) => 2 * w[i] * u[i] - w[i] * w[i] * diagonal[i];

    /// <summary>β_j = 2w_j u_j + w_j²F_jj: how much f grows when j joins P.</summary>
    public double Beta(int j) => 2 * w[j] * u[j] + w[j] * w[j] * diagonal[j];

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

    public double[] U => u;

    /// <summary>
    /// One iteration: P sorted by α descending, the kept set by β ascending; for each i scan the kept weights within
    /// ±ρ ranks, first improving swap (change ≤ −ε) wins; stop after τ failed i's. Returns the swaps accepted.
    /// </summary>
    public int Iterate(double epsilon, int rho, int tau)
    {
        var inP = Enumerable.Range(0, w.Length).Where(i => Pruned[i]).OrderByDescending(Alpha).ThenBy(i => i).ToArray();
        var outP = Enumerable.Range(0, w.Length).Where(i => !Pruned[i]).OrderBy(Beta).ThenBy(i => i).ToArray();
        int swaps = 0, failures = 0;
        for (int r = 0; r < inP.Length && failures < tau; r++)
        {
            int i = inP[r];
            if (!Pruned[i]) continue;
            bool accepted = false;
            for (int s = Math.Max(0, r - rho); s <= Math.Min(outP.Length - 1, r + rho); s++)
            {
                int j = outP[s];
                if (Pruned[j]) continue;
                double change = Beta(j) - Alpha(i) - 2 * w[i] * fisher.Entry(i, j) * w[j];
                if (change <= -epsilon)
                {
                    Swap(i, j, change);
                    accepted = true;
                    swaps++;
                    break;
                }
            }
            if (!accepted) failures++;
        }
        return swaps;
    }

    /// <summary>Moves i out of P and j into P, updating u and f.</summary>
    public void Swap(int i, int j, double change)
    {
        var e = new double[w.Length];
        e[j] = w[j];
        e[i] = -w[i];
        var du = Times(e);
        for (int t = 0; t < u.Length; t++) u[t] += du[t];
        Pruned[i] = false;
        Pruned[j] = true;
        F += change;
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
