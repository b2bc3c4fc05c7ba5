using Surgeon.Data;
using Surgeon.Scoring;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

public class GradientFlowStatsTests
{
    private static double SumOf(IEnumerable<Tensor> parts, Func<Tensor, Tensor> f) => parts.Sum(t => f(t).sum().item<double>());

    private static double Dot(IReadOnlyList<Tensor> a, IReadOnlyList<Tensor> b) =>
        a.Zip(b, (x, y) => x.detach().mul(y).sum().item<double>()).Sum();

    [Fact]
    public void Stats_MatchFiniteDifferencesAlongTheGradientStep()
    {
        var model = ScoringFixtures.Conv64();
        var (x, y) = ScoringFixtures.Samples(8, [1, 5, 5], 3, seed: 31);
        var stats = GradientFlowStats.Compute(model, ScoringData.FromTensors(x, y, batchSize: 3));
        Assert.Equal(8, stats.Samples);

        List<Parameter> theta = [.. model.parameters()];
        var g = ScoringFixtures.BatchGradient(model, theta, x, y);
        Assert.Equal(SumOf(theta, t => t.detach().square()), stats.ParamNormSquared, 10);
        Assert.Equal(SumOf(g, t => t.square()), stats.GradNormSquared, 10);

        // d/dε ‖θ − εḡ‖² at 0 is −2θᵀḡ (the gradient-flow rate NormSquaredRate).
        double eps = 1e-4;
        ScoringFixtures.Shift(theta, g, -eps);
        double minus = SumOf(theta, t => t.detach().square());
        ScoringFixtures.Shift(theta, g, 2 * eps);
        double plus = SumOf(theta, t => t.detach().square());
        ScoringFixtures.Shift(theta, g, -eps);
        Assert.Equal((minus - plus) / (2 * eps), stats.NormSquaredRate, 8);

        // f(ε) = θ(ε)ᵀ ḡ(θ(ε)) with θ(ε) = θ − εḡ₀: f'(0) = −‖ḡ‖² − θᵀHḡ.
        double h = 1e-6 / Math.Sqrt(stats.GradNormSquared);
        ScoringFixtures.Shift(theta, g, -h);
        double fPlus = Dot([.. theta], ScoringFixtures.BatchGradient(model, theta, x, y));
        ScoringFixtures.Shift(theta, g, 2 * h);
        double fMinus = Dot([.. theta], ScoringFixtures.BatchGradient(model, theta, x, y));
        ScoringFixtures.Shift(theta, g, -h);
        double thetaHg = -(fPlus - fMinus) / (2 * h) - stats.GradNormSquared;
        Assert.True(Math.Abs(thetaHg - stats.ThetaHessGrad) <= 1e-5 * Math.Abs(thetaHg),
            $"θᵀHḡ {stats.ThetaHessGrad} vs finite difference {thetaHg}");
        Assert.Equal(2 * stats.GradNormSquared + 2 * stats.ThetaHessGrad, stats.NormSquaredAcceleration, 12);
        Assert.Equal(Dot([.. theta], g), stats.ThetaDotGrad, 10);
    }
}
