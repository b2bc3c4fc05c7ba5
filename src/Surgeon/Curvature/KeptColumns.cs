using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// Products with a subset of the columns of a Fisher block's per-sample gradients G_b (N×L, float32) without gathering
/// that subset into a copy of G: the columns are taken a chunk at a time, so the work beside G stays at one chunk
/// (at most <see cref="ChunkBytes"/>) plus the result. Gathering G_U or G_P whole cost up to 3× G at N = 8,000 on
/// MLPNet (the pruned columns in float32 and again in float64), which made CBS-U the peak of a CBS run.
/// </summary>
internal static class KeptColumns
{
    /// <summary>The most a column chunk may take in float64 (its float32 gather is half of that); the methods take
    /// another bound for tests, which need several chunks on small matrices.</summary>
    public const long ChunkBytes = 64L << 20;

    /// <summary>Columns per chunk for <paramref name="rows"/> rows: as many as fit <see cref="ChunkBytes"/> in float64.</summary>
    public static long ChunkColumns(long rows, long chunkBytes = ChunkBytes) => Math.Max(1, chunkBytes / (8 * Math.Max(1, rows)));

    /// <summary>G_b v in float64 (length N) for a float64 vector v of length L, e.g. w̄ with its kept entries zeroed
    /// (= G_P w̄_P): each column chunk is promoted to float64 on its own.</summary>
    public static Tensor Times(Tensor gb, Tensor v, long chunkBytes = ChunkBytes)
    {
        long n = gb.shape[0], l = gb.shape[1];
        if (v.numel() != l) throw new ArgumentException($"G_b has {l} columns, the vector {v.numel()} entries");
        using var scope = NewDisposeScope();
        var result = zeros([n], ScalarType.Float64, gb.device);
        long chunk = ChunkColumns(n, chunkBytes);
        for (long c = 0; c < l; c += chunk)
        {
            using var step = NewDisposeScope();
            long len = Math.Min(chunk, l - c);
            result.add_(gb.narrow(1, c, len).to(ScalarType.Float64).matmul(v.narrow(0, c, len)), HeldScalars.One);
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>G_Sᵀz in float64 (length |S|) for the columns <paramref name="columns"/> (sorted or not) and a float64
    /// N-vector z, a chunk of columns at a time.</summary>
    public static Tensor TransposeTimes(Tensor gb, Tensor z, Tensor columns, long chunkBytes = ChunkBytes)
    {
        long n = gb.shape[0], s = columns.numel();
        if (z.numel() != n) throw new ArgumentException($"G_b has {n} rows, the vector {z.numel()} entries");
        using var scope = NewDisposeScope();
        var result = empty([s], ScalarType.Float64, gb.device);
        long chunk = ChunkColumns(n, chunkBytes);
        for (long c = 0; c < s; c += chunk)
        {
            using var step = NewDisposeScope();
            long len = Math.Min(chunk, s - c);
            var gc = gb.index_select(1, columns.narrow(0, c, len)).to(ScalarType.Float64);
            result.narrow(0, c, len).copy_(gc.t().matmul(z));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The Gram matrix of the columns S in float64: G_SG_Sᵀ (N×N) when <paramref name="outer"/> (the Woodbury system),
    /// else G_SᵀG_S (|S|×|S|). Accumulated in G's dtype (float32 normally) as one GEMM over the columns would be (the system is promoted to
    /// float64 for its factorisation, see <see cref="EmpiricalFisher"/>): G_SG_Sᵀ over column chunks of S, G_SᵀG_S over
    /// row chunks of G, so only one chunk of G_S exists at a time.
    /// </summary>
    public static Tensor Gram(Tensor gb, Tensor columns, bool outer, long chunkBytes = ChunkBytes)
    {
        long n = gb.shape[0], s = columns.numel();
        using var scope = NewDisposeScope();
        long size = outer ? n : s;
        var gram = zeros([size, size], gb.dtype, gb.device);
        if (outer)
        {
            long chunk = ChunkColumns(n, chunkBytes) * 2; // float32 gathers: twice the columns of a float64 chunk
            for (long c = 0; c < s; c += chunk)
            {
                using var step = NewDisposeScope();
                var gc = gb.index_select(1, columns.narrow(0, c, Math.Min(chunk, s - c)));
                gram.addmm_(gc, gc.t(), 1f, 1f);
            }
        }
        else
        {
            long rows = Math.Max(1, chunkBytes / (4 * Math.Max(1, s)));
            for (long r = 0; r < n; r += rows)
            {
                using var step = NewDisposeScope();
                var gr = gb.narrow(0, r, Math.Min(rows, n - r)).index_select(1, columns);
                gram.addmm_(gr.t(), gr, 1f, 1f);
            }
        }
        var result = gram.to(ScalarType.Float64);
        gram.Dispose();
        return result.MoveToOuterDisposeScope();
    }
}
