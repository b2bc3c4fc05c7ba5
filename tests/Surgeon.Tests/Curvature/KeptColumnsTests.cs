using Surgeon.Curvature;
using Xunit;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

/// <summary>
/// The chunked products with a subset of G's columns against the same products on the gathered columns, computed
/// entry by entry in float64 from the array (an independent loop, not torch's GEMM), with chunk bounds small enough
/// that every loop runs over several chunks (including a last, shorter one).
/// </summary>
public class KeptColumnsTests
{
    private const int N = 7, L = 23;

    private static (double[,] G, Tensor Tensor) RandomG(ScalarType dtype, int seed)
    {
        var random = new Random(seed);
        var g = new double[N, L];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < L; j++)
                g[i, j] = random.NextDouble() * 2 - 1;
        // Round through float32 first so the float32 tensor holds exactly the values the loops use.
        var flat = new float[N * L];
        for (int i = 0; i < N; i++)
            for (int j = 0; j < L; j++)
                g[i, j] = flat[i * L + j] = (float)g[i, j];
        return (g, tensor(flat).view(N, L).to(dtype));
    }

    private static readonly long[] Columns = [0, 2, 3, 7, 8, 9, 15, 16, 21, 22];

    [Theory]
    [InlineData(ScalarType.Float32, 8 * N * 3)]   // 3 columns per float64 chunk
    [InlineData(ScalarType.Float64, 8 * N * 4)]
    [InlineData(ScalarType.Float64, 1L << 20)]    // one chunk
    public void ProductsWithTheKeptColumns_EqualLoopsOverTheGatheredColumns(ScalarType dtype, long chunkBytes)
    {
        var (g, gt) = RandomG(dtype, 3);
        var random = new Random(4);
        var v = Enumerable.Range(0, L).Select(_ => random.NextDouble() - 0.5).ToArray();
        var z = Enumerable.Range(0, N).Select(_ => random.NextDouble() - 0.5).ToArray();
        var columns = tensor(Columns);

        var times = KeptColumns.Times(gt, tensor(v), chunkBytes).data<double>().ToArray();
        for (int i = 0; i < N; i++)
            Assert.InRange(times[i] - Enumerable.Range(0, L).Sum(j => g[i, j] * v[j]), -1e-12, 1e-12);

        var transposed = KeptColumns.TransposeTimes(gt, tensor(z), columns, chunkBytes).data<double>().ToArray();
        for (int s = 0; s < Columns.Length; s++)
            Assert.InRange(transposed[s] - Enumerable.Range(0, N).Sum(i => g[i, Columns[s]] * z[i]), -1e-12, 1e-12);

        // Grams accumulate in G's dtype: float32 rounding is ~1e-7 relative on entries of order 1.
        double tolerance = dtype == ScalarType.Float64 ? 1e-12 : 1e-5;
        var outer = KeptColumns.Gram(gt, columns, outer: true, chunkBytes);
        Assert.Equal(new long[] { N, N }, outer.shape);
        for (int i = 0; i < N; i++)
            for (int k = 0; k < N; k++)
                Assert.InRange(outer[i, k].item<double>() - Columns.Sum(c => g[i, c] * g[k, c]), -tolerance, tolerance);

        var inner = KeptColumns.Gram(gt, columns, outer: false, chunkBytes);
        Assert.Equal(new long[] { Columns.Length, Columns.Length }, inner.shape);
        for (int a = 0; a < Columns.Length; a++)
            for (int b = 0; b < Columns.Length; b++)
                Assert.InRange(inner[a, b].item<double>() - Enumerable.Range(0, N).Sum(i => g[i, Columns[a]] * g[i, Columns[b]]), -tolerance, tolerance);
    }
}
