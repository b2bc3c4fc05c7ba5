using System.Numerics;
using System.Runtime.InteropServices;
using Surgeon.Curvature;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// The columns of a Fisher block's G_b (N×L, row-major, on the CPU) that CHITA's IHT works on (its active set A), copied
/// once each into a managed array as contiguous rows of N, in the order they were added, so the products of an IHT step
/// read |A|·N numbers: G_Aᵀu (a dot product per row) and G_Aβ_A over β's nonzeros only (an axpy per nonzero, so a
/// residual on a support of k costs k·N, not |A|·N). The set only grows until <see cref="Clear"/>; up to
/// <see cref="Capacity"/> columns. Products are in G's dtype (float32 or float64), returned in float64.
/// </summary>
/// <remarks>
/// Why not tensor ops: gathering columns of row-major G with <c>index_select</c> for each new active set cost ~0.16 s at
/// 6,472 of 32,360 columns (N = 1,000) and 8 gathers per solve; here each column is copied once, in one pass over G's
/// rows for all the columns added together. And a tensor product with G_A cannot skip β's zeros.
/// </remarks>
internal sealed class ActiveColumns
{
    private readonly Tensor g;
    private readonly int n;
    private readonly float[]? rowsF;
    private readonly double[]? rowsD;
    private readonly int[] slotOf;
    private readonly List<int> columns = [];

    /// <summary>Whether <paramref name="gb"/> can be read this way: a CPU float32 or float64 matrix whose rows are
    /// contiguous, and <paramref name="capacity"/> columns of it fit one managed array.</summary>
    public static bool Supports(Tensor gb, int capacity) =>
        gb.device_type == DeviceType.CPU && gb.dim() == 2 && gb.stride(1) == 1
        && (gb.dtype == ScalarType.Float32 || gb.dtype == ScalarType.Float64)
        && (long)capacity * gb.shape[0] <= Array.MaxLength;

    public ActiveColumns(Tensor gb, int capacity)
    {
        if (!Supports(gb, capacity)) throw new ArgumentException("active columns need a CPU float32/float64 G with contiguous rows");
        g = gb;
        n = (int)gb.shape[0];
        Capacity = capacity;
        if (gb.dtype == ScalarType.Float32) rowsF = new float[(long)capacity * n];
        else rowsD = new double[(long)capacity * n];
        slotOf = Enumerable.Repeat(-1, (int)gb.shape[1]).ToArray();
    }

    public int Capacity { get; }

    /// <summary>The columns held, in row order (row i holds column <c>Columns[i]</c> of G_b).</summary>
    public IReadOnlyList<int> Columns => columns;

    public int Count => columns.Count;

    /// <summary>Changes whenever columns are added or cleared.</summary>
    public int Version { get; private set; }

    public bool Contains(int column) => slotOf[column] >= 0;

    /// <summary>Adds the columns not yet held, in the given order; false (nothing added) if they do not fit.</summary>
    public bool TryAdd(IEnumerable<int> wanted)
    {
        var missing = wanted.Where(j => slotOf[j] < 0).Distinct().ToArray();
        if (missing.Length == 0) return true;
        if (columns.Count + missing.Length > Capacity) return false;
        int first = columns.Count;
        Version++;
        foreach (int j in missing)
        {
            slotOf[j] = columns.Count;
            columns.Add(j);
        }
        // one pass over G's rows: element (row r, column j) goes to row slotOf[j] of the copy at position r
        for (int r = 0; r < n; r++)
        {
            using var row = g.select(0, r);
            var bytes = row.bytes;
            if (rowsF is not null)
            {
                var src = MemoryMarshal.Cast<byte, float>(bytes);
                for (int i = 0; i < missing.Length; i++) rowsF[(long)(first + i) * n + r] = src[missing[i]];
            }
            else
            {
                var src = MemoryMarshal.Cast<byte, double>(bytes);
                for (int i = 0; i < missing.Length; i++) rowsD![(long)(first + i) * n + r] = src[missing[i]];
            }
        }
        return true;
    }

    /// <summary>Forgets every column (the copy is reused).</summary>
    public void Clear()
    {
        foreach (int j in columns) slotOf[j] = -1;
        columns.Clear();
        Version++;
    }

    /// <summary>G_Aᵀu: per held column, its dot product with <paramref name="u"/> (length N).</summary>
    public double[] TransposeTimes(double[] u)
    {
        if (u.Length != n) throw new ArgumentException($"u must have length {n}");
        var result = new double[columns.Count];
        if (rowsF is not null)
        {
            var uf = u.Select(x => (float)x).ToArray();
            for (int i = 0; i < result.Length; i++) result[i] = Dot(rowsF.AsSpan(i * n, n), uf);
        }
        else
        {
            for (int i = 0; i < result.Length; i++) result[i] = Dot(rowsD.AsSpan(i * n, n), u);
        }
        return result;
    }

    /// <summary>G_Aβ (length N) for <paramref name="beta"/> over the held columns in row order; zeros are skipped.</summary>
    public double[] Times(double[] beta)
    {
        if (beta.Length != columns.Count) throw new ArgumentException($"β must have length {columns.Count}");
        if (rowsF is not null)
        {
            var acc = new float[n];
            for (int i = 0; i < beta.Length; i++)
                if (beta[i] != 0) Axpy((float)beta[i], rowsF.AsSpan(i * n, n), acc);
            return acc.Select(x => (double)x).ToArray();
        }
        var accD = new double[n];
        for (int i = 0; i < beta.Length; i++)
            if (beta[i] != 0) Axpy(beta[i], rowsD.AsSpan(i * n, n), accD);
        return accD;
    }

    private static double Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : struct, INumber<T>
    {
        var sum = Vector<T>.Zero;
        int i = 0;
        for (; i <= a.Length - Vector<T>.Count; i += Vector<T>.Count)
            sum += new Vector<T>(a.Slice(i)) * new Vector<T>(b.Slice(i));
        T s = Vector.Sum(sum);
        for (; i < a.Length; i++) s += a[i] * b[i];
        return double.CreateChecked(s);
    }

    private static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : struct, INumber<T>
    {
        var va = new Vector<T>(alpha);
        int i = 0;
        for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            (new Vector<T>(y.Slice(i)) + va * new Vector<T>(x.Slice(i))).CopyTo(y.Slice(i));
        for (; i < x.Length; i++) y[i] += alpha * x[i];
    }
}
