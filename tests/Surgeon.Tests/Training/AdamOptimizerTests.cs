using Surgeon.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Training;

/// <summary>AdamOptimizer against Adam written out per scalar in double precision (Kingma and Ba 2015, Algorithm 1).</summary>
public class AdamOptimizerTests
{
    [Fact]
    public void FiveSteps_MatchTheScalarAlgorithm()
    {
        double[] w0 = [0.5, -1.25, 2.0], target = [1.0, 0.5, -0.5];
        using var p = new Parameter(tensor(w0, dtype: float64));
        using var t = tensor(target, dtype: float64);
        using var adam = new AdamOptimizer([p], 0.1);
        double[] w = (double[])w0.Clone(), m = new double[3], v = new double[3];
        for (int step = 1; step <= 5; step++)
        {
            adam.ZeroGrad();
            // loss = Σ (w − t)⁴ / 4: gradient (w − t)³, so steps differ in size and sign.
            var loss = p.sub(t).pow(4).sum().div(4.0);
            loss.backward();
            adam.Step();
            for (int i = 0; i < 3; i++)
            {
                double g = Math.Pow(w[i] - target[i], 3);
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double mHat = m[i] / (1 - Math.Pow(0.9, step)), vHat = v[i] / (1 - Math.Pow(0.999, step));
                w[i] -= 0.1 * mHat / (Math.Sqrt(vHat) + 1e-8);
            }
            var actual = p.detach().data<double>().ToArray();
            for (int i = 0; i < 3; i++) Assert.Equal(w[i], actual[i], 12);
        }
    }
}
