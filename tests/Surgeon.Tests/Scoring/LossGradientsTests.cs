using Surgeon.Data;
using Surgeon.Scoring;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

public class LossGradientsTests
{
    [Theory]
    [InlineData(false, 1.0)]
    [InlineData(true, 1.0)]
    [InlineData(true, 200.0)]
    public void Mean_MatchesAPerSampleLoop(bool conv, double temperature)
    {
        nn.Module<Tensor, Tensor> model = conv ? ScoringFixtures.Conv64() : ScoringFixtures.Mlp64();
        var (x, y) = ScoringFixtures.Samples(10, conv ? [1, 5, 5] : [12], 3, seed: 11);
        var names = model.named_parameters().Select(p => p.name).ToList();
        var reference = ScoringFixtures.LoopMeanGradient(model, x, y, temperature);
        model.train(); // LossGradients must switch to eval itself and restore this afterwards
        // Batch size 4 does not divide 10: the last batch is short.
        var g = LossGradients.MeanOf(model, names, ScoringData.FromTensors(x, y, batchSize: 4), temperature);
        Assert.True(model.training);
        foreach (var name in names)
            ScoringFixtures.AssertClose(reference[name], g[name], 1e-10, name);
    }

    [Theory]
    [InlineData(false, 1.0)]
    [InlineData(true, 1.0)]
    [InlineData(true, 200.0)]
    public void HessianTimesMeanGradient_MatchesACentralDifferenceOfGradients(bool conv, double temperature)
    {
        nn.Module<Tensor, Tensor> model = conv ? ScoringFixtures.Conv64() : ScoringFixtures.Mlp64();
        var (x, y) = ScoringFixtures.Samples(10, conv ? [1, 5, 5] : [12], 3, seed: 12);
        var theta = model.parameters().Cast<Tensor>().ToList();
        var data = ScoringData.FromTensors(x, y, batchSize: 3);
        var g = LossGradients.Mean(model, theta, data, temperature);
        var hg = LossGradients.HessianTimes(model, theta, g, data, temperature);

        // Scale ε to ḡ so the step θ ± εḡ has a fixed size (tiny, so no ReLU changes its pattern).
        double gNorm = Math.Sqrt(g.Sum(t => t.square().sum().item<double>()));
        var fd = ScoringFixtures.FiniteDifferenceHv(model, g, x, y, 1e-6 / gNorm, temperature);
        ScoringFixtures.AssertClose(cat(fd.Select(t => t.flatten()).ToList(), 0),
            cat(hg.Select(t => t.flatten()).ToList(), 0), 1e-5, "Hḡ");
    }

    [Fact]
    public void ALabelOutsideTheModelsOutputs_IsAnError_NotANativeAbort()
    {
        var model = ScoringFixtures.Mlp64();
        var x = randn(2, 12, float64);
        var y = tensor(new long[] { 0, 3 });
        var ex = Assert.Throws<SurgeonException>(() =>
            LossGradients.Mean(model, model.parameters().Cast<Tensor>().ToList(), ScoringData.FromTensors(x, y)));
        Assert.Contains("labels", ex.Message);
    }
}
