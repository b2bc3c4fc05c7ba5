using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>The active set's column copy against dense products with the gathered columns of G, on a block that is a
/// narrow view of a wider G (rows not contiguous with each other), as columns are added in batches, cleared and refilled.</summary>
public class ActiveColumnsTests
{
    [Theory]
    [InlineData(ScalarType.Float64, 1e-12)]
    [InlineData(ScalarType.Float32, 1e-4)]
    public void Products_EqualTheDenseProductsWithTheGatheredColumns(ScalarType dtype, double tolerance)
    {
        const int n = 9, width = 80, offset = 17, length = 50;
        var gen = new TorchSharp.torch.Generator(11);
        var full = randn(n, width, dtype: ScalarType.Float64, generator: gen);
        var block = full.to(dtype).narrow(1, offset, length);          // G_b: a view, rows 80 apart
        var dense = full.narrow(1, offset, length);                   // float64 reference
        var columns = new ActiveColumns(block, capacity: 20);
        var random = new Random(4);
        var batches = new[] { new[] { 3, 40, 7, 7 }, new[] { 0, 49, 3 }, Enumerable.Range(10, 8).ToArray() };
        foreach (var batch in batches)
        {
            Assert.True(columns.TryAdd(batch));
            Check();
        }
        Assert.Equal(13, columns.Count);                               // 3, 40, 7, 0, 49, 10..17
        Assert.False(columns.TryAdd(Enumerable.Range(20, 8)));        // 21 > capacity 20: nothing added
        Assert.Equal(13, columns.Count);
        columns.Clear();
        Assert.Equal(0, columns.Count);
        Assert.False(columns.Contains(3));
        Assert.True(columns.TryAdd(Enumerable.Range(30, 20)));
        Check();

        void Check()
        {
            var held = columns.Columns.ToArray();
            var gathered = dense.index_select(1, tensor(held.Select(j => (long)j).ToArray()));   // N×|A|
            var u = Enumerable.Range(0, n).Select(_ => random.NextDouble() - 0.5).ToArray();
            var expectedT = gathered.T.matmul(tensor(u)).data<double>().ToArray();
            var gotT = columns.TransposeTimes(u);
            for (int i = 0; i < held.Length; i++) Assert.True(Math.Abs(gotT[i] - expectedT[i]) < tolerance, $"Gᵀu[{i}]: {gotT[i]} vs {expectedT[i]}");
            var beta = held.Select(_ => random.Next(3) == 0 ? 0 : random.NextDouble() - 0.5).ToArray();
            var expected = gathered.matmul(tensor(beta)).data<double>().ToArray();
            var got = columns.Times(beta);
            for (int r = 0; r < n; r++) Assert.True(Math.Abs(got[r] - expected[r]) < tolerance, $"Gβ[{r}]: {got[r]} vs {expected[r]}");
            foreach (int j in held) Assert.True(columns.Contains(j));
        }
    }
}
