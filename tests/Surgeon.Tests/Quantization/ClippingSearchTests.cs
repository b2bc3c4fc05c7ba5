using Surgeon.Quantization;
using static TorchSharp.torch;

namespace Surgeon.Tests.Quantization;

/// <summary>
/// The MSE scale against a brute-force grid: the squared error of the library's grid, recomputed by hand, is never
/// above the best of 50 clipping ranges α·[min, max] (α = j/50) each quantised and summed by hand, nor above min–max.
/// </summary>
public class ClippingSearchTests
{
    public static TheoryData<int, bool, bool> Cases()
    {
        var data = new TheoryData<int, bool, bool>();
        foreach (int bits in new[] { 2, 3, 4, 6, 8 })
            foreach (bool symmetric in new[] { true, false })
                foreach (bool heavyTails in new[] { false, true })
                    data.Add(bits, symmetric, heavyTails);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MseScale_IsNeverWorseThanABruteForceGrid(int bits, bool symmetric, bool heavyTails)
    {
        manual_seed(bits * 10 + (symmetric ? 1 : 0) + (heavyTails ? 5 : 0));
        // Four channels of 300 values: Gaussian, or Student-like heavy tails (Gaussian / sqrt of a uniform) that
        // reward clipping; one channel shifted positive.
        var x = randn(4, 300);
        if (heavyTails) x = x.div(rand(4, 300).add(tensor(0.05f), UniformQuantizerTests.HeldScalarsOne).sqrt());
        x[3].add_(tensor(1.5f), UniformQuantizerTests.HeldScalarsOne);
        float[] values = x.data<float>().ToArray();

        foreach (bool perChannel in new[] { false, true })
        {
            var settings = new WeightQuantizationSettings { Bits = bits, Symmetric = symmetric, PerChannel = perChannel, Scale = ScaleMethod.Mse };
            var q = WeightQuantizer.Compute(x, settings);
            int rows = perChannel ? 4 : 1, width = values.Length / rows;
            for (int r = 0; r < rows; r++)
            {
                float[] row = values.AsSpan(r * width, width).ToArray();
                double library = HandQuantization.SquaredError(row, (float)q.Scales[r], (int)q.ZeroPoints[r], bits);
                double bruteForce = double.PositiveInfinity;
                for (int j = 1; j <= 50; j++)
                {
                    double alpha = j / 50.0;
                    var (scale, zero) = HandQuantization.Grid(alpha * row.Min(), alpha * row.Max(), bits, symmetric);
                    bruteForce = Math.Min(bruteForce, HandQuantization.SquaredError(row, scale, zero, bits));
                }
                var (s1, z1) = HandQuantization.Grid(row.Min(), row.Max(), bits, symmetric);
                double minMax = HandQuantization.SquaredError(row, s1, z1, bits);
                Assert.True(library <= bruteForce * (1 + 1e-12), $"row {r}: MSE grid error {library:G8} > brute-force {bruteForce:G8}");
                Assert.True(library <= minMax * (1 + 1e-12), $"row {r}: MSE grid error {library:G8} > min-max {minMax:G8}");
                if (heavyTails && bits <= 4)
                    Assert.True(library < 0.9 * minMax, $"row {r}: clipping heavy tails should pay at {bits} bits ({library:G4} vs {minMax:G4})");
            }
        }
    }

    [Fact]
    public void Refinement_NeverRaisesTheErrorOfTheGridSearch()
    {
        // G = 1 is min-max followed by the least-squares refinement alone: it must not be worse than min-max.
        manual_seed(3);
        var x = randn(1, 500);
        float[] values = x.data<float>().ToArray();
        foreach (int bits in new[] { 2, 4, 8 })
        {
            var refined = ClippingSearch.Search(x, bits, symmetric: true, gridPoints: 1);
            var (s, z) = HandQuantization.Grid(values.Min(), values.Max(), bits, true);
            Assert.True(HandQuantization.SquaredError(values, (float)refined.Scales[0], 0, bits) <= HandQuantization.SquaredError(values, s, z, bits));
        }
    }
}
