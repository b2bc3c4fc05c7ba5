using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// G_Sβ_S for the sparse iterates of CHITA's IHT (k nonzeros of a block's L weights): the columns of G_b (N×L) on the
/// support are kept as the rows of a contiguous matrix and refilled only with the columns that enter the support, so a
/// product reads k·N numbers instead of G_b's L·N, and no column is gathered twice while it stays in the support
/// (gathering columns of a row-major G is slow: 3,236 of 32,360 at N = 1,000 cost twice a whole product). Worth it when
/// k ≤ L/5 (the switch the CHITA authors' code makes); the rows hold at most k + max(16, k/4) columns (at most a
/// quarter of G_b), and at most <see cref="KeptColumns.ChunkBytes"/> (64 MiB, what the memory estimate allows for them).
/// </summary>
internal sealed class SupportColumns : IDisposable
{
    private readonly Tensor g;
    private readonly Tensor rows;       // capacity × N, G's dtype: row s holds column columnOf[s] of G_b
    private readonly int[] slotOf;      // per column of G_b: its row, or -1
    private readonly int[] columnOf;    // per row: its column, or -1 (free)
    private readonly Stack<int> free = new();

    /// <summary>Whether the support of <paramref name="k"/> of <paramref name="length"/> weights is sparse enough, and its
    /// rows (N = <paramref name="n"/> elements of <paramref name="elementSize"/> bytes each) fit 64 MiB.</summary>
    public static bool Worthwhile(int k, int length, int n, long elementSize) =>
        5L * k <= length && Capacity(k, length) * n * elementSize <= KeptColumns.ChunkBytes;

    private static int Capacity(int k, int length) => Math.Min(length, k + Math.Max(16, k / 4));

    public SupportColumns(Tensor gb, int k)
    {
        g = gb;
        int length = (int)gb.shape[1];
        int capacity = Capacity(k, length);
        // zeros, not empty: a free row meets a 0 of v in the product, and 0·NaN (uninitialised memory) would be NaN
        rows = zeros([capacity, gb.shape[0]], gb.dtype, gb.device).DetachFromDisposeScope();
        slotOf = Enumerable.Repeat(-1, length).ToArray();
        columnOf = Enumerable.Repeat(-1, capacity).ToArray();
        for (int s = capacity - 1; s >= 0; s--) free.Push(s);
    }

    /// <summary>G_Sβ_S in float64 (the product in G's dtype, as a product with the whole of G_b would be), where S =
    /// <paramref name="support"/> (at most the k given at construction).</summary>
    public double[] Times(double[] beta, bool[] support)
    {
        var missing = new List<int>();
        for (int j = 0; j < support.Length; j++)
            if (support[j] && slotOf[j] < 0) missing.Add(j);
        if (missing.Count > free.Count)
        {
            for (int s = 0; s < columnOf.Length; s++)
            {
                if (columnOf[s] < 0 || support[columnOf[s]]) continue;
                slotOf[columnOf[s]] = -1;
                columnOf[s] = -1;
                free.Push(s);
            }
        }
        if (missing.Count > free.Count)
            throw new ArgumentException($"a support of more than {columnOf.Length} weights does not fit the column cache");
        using var scope = NewDisposeScope();
        if (missing.Count > 0)
        {
            var slots = new long[missing.Count];
            for (int i = 0; i < missing.Count; i++)
            {
                int s = free.Pop();
                slots[i] = s;
                columnOf[s] = missing[i];
                slotOf[missing[i]] = s;
            }
            var columns = g.index_select(1, tensor(missing.Select(j => (long)j).ToArray()));
            rows.index_copy_(0, tensor(slots), columns.t());
        }
        var v = new double[columnOf.Length];
        for (int j = 0; j < support.Length; j++)
            if (support[j]) v[slotOf[j]] = beta[j];
        return rows.t().matmul(tensor(v).to(g.dtype)).to(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    public void Dispose() => rows.Dispose();
}
