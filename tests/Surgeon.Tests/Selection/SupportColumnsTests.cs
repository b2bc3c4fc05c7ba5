using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>The cached support columns against the dense product G·β (β zero off the support), over a sequence of supports
/// that overlap, move and force evictions, in float64 and float32.</summary>
public class SupportColumnsTests
{
    [Theory]
    [InlineData(ScalarType.Float64, 1e-12)]
    [InlineData(ScalarType.Float32, 1e-4)]
    public void Times_EqualsTheDenseProduct_AsTheSupportMoves(ScalarType dtype, double tolerance)
    {
        const int n = 7, length = 60, k = 9;
        var gen = new TorchSharp.torch.Generator(3);
        var g = randn(n, length, dtype: ScalarType.Float64, generator: gen);
        using var columns = new SupportColumns(g.to(dtype), k);
        var random = new Random(5);
        var support = new bool[length];
        foreach (int j in Enumerable.Range(0, length).OrderBy(_ => random.Next()).Take(k)) support[j] = true;
        for (int step = 0; step < 40; step++)
        {
            // move 0 to 5 weights of the support (5 moves fill the 16 spare rows within a few steps: evictions)
            int moves = random.Next(6);
            for (int m = 0; m < moves; m++)
            {
                var kept = Enumerable.Range(0, length).Where(j => support[j]).ToArray();
                var pruned = Enumerable.Range(0, length).Where(j => !support[j]).ToArray();
                support[kept[random.Next(kept.Length)]] = false;
                support[pruned[random.Next(pruned.Length)]] = true;
            }
            var beta = Enumerable.Range(0, length).Select(j => support[j] ? random.NextDouble() * 2 - 1 : 0).ToArray();
            var expected = g.matmul(tensor(beta)).data<double>().ToArray();
            var actual = columns.Times(beta, support);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance * (1 + Math.Abs(expected[i])),
                    $"step {step}, row {i}: {actual[i]} vs {expected[i]}");
        }
    }
}
