using Surgeon.Data;
using Surgeon.Compression;
using Surgeon.Pruning;
using Surgeon.Scoring;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

/// <summary>Each measure's per-weight scores against an independent computation from its definition.</summary>
public class MeasureTests
{
    private static readonly long[] MlpInput = [12];

    private static (nn.Module<Tensor, Tensor> Model, IReadOnlyList<PrunableParameter> Ps, Tensor X, Tensor Y) Setup(int seed = 21)
    {
        var model = ScoringFixtures.Mlp64();
        var (x, y) = ScoringFixtures.Samples(10, MlpInput, 3, seed);
        return (model, PrunableParameters.Discover(model), x, y);
    }

    private static Tensor Flat(IEnumerable<Tensor> parts) => cat(parts.Select(t => t.flatten()).ToList(), 0);

    private static Tensor Scores(string measure, nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, int batchSize = 4) =>
        ScoringFixtures.Weights(PruningMethods.Score(measure), model, ScoringData.FromTensors(x, y, batchSize));

    [Theory]
    [InlineData("magnitude")]
    [InlineData("l1")]
    public void MagnitudeAndL1_ScoreEachWeightByItsAbsoluteValue(string measure)
    {
        var (model, ps, x, y) = Setup();
        ScoringFixtures.AssertClose(PrunableParameters.Flatten(ps).abs(), Scores(measure, model, x, y), 0);
        // Data-free: no data needed at all.
        var noData = ScoringFixtures.Weights(PruningMethods.Score(measure), model, null);
        ScoringFixtures.AssertClose(PrunableParameters.Flatten(ps).abs(), noData, 0);
    }

    [Theory]
    [InlineData("loss-preservation", 1)]
    [InlineData("taylor", 1)]
    [InlineData("biased-loss", 2)]
    public void FirstOrderMeasures_AreAbsThetaPowerTimesTheLoopMeanGradient(string measure, int power)
    {
        var (model, ps, x, y) = Setup();
        var g = ScoringFixtures.LoopMeanGradient(model, x, y);
        var expected = Flat(ps.Select(p => p.Weight.detach().pow(power).mul(g[p.Name]).abs()));
        ScoringFixtures.AssertClose(expected, Scores(measure, model, x, y), 1e-10, measure);
    }

    [Fact]
    public void Snip_UsesTheFirstBatchOnly()
    {
        var (model, ps, x, y) = Setup();
        var g = ScoringFixtures.LoopMeanGradient(model, x.narrow(0, 0, 4), y.narrow(0, 0, 4));
        var expected = Flat(ps.Select(p => p.Weight.detach().mul(g[p.Name]).abs()));
        var snip = Scores("snip", model, x, y, batchSize: 4);
        ScoringFixtures.AssertClose(expected, snip, 1e-10, "snip");
        // ... and so differs from loss preservation, which averages over all 10 samples.
        Assert.False(snip.allclose(Scores("loss-preservation", model, x, y, batchSize: 4), rtol: 1e-3));
    }

    [Fact]
    public void Fisher_IsThetaSquaredTimesTheMeanSquaredPerSampleGradient()
    {
        var (model, ps, x, y) = Setup();
        var sumSq = ps.ToDictionary(p => p.Name, p => zeros_like(p.Weight).detach());
        for (long n = 0; n < x.shape[0]; n++)
        {
            var g = ScoringFixtures.LoopMeanGradient(model, x.narrow(0, n, 1), y.narrow(0, n, 1));
            foreach (var p in ps) sumSq[p.Name].add_(g[p.Name].square());
        }
        var expected = Flat(ps.Select(p => p.Weight.detach().square().mul(sumSq[p.Name]).div(x.shape[0])));
        ScoringFixtures.AssertClose(expected, Scores("fisher", model, x, y), 1e-10, "fisher");
    }

    [Theory]
    [InlineData("grasp", 200.0, false)]
    [InlineData("gradient-norm", 1.0, false)]
    [InlineData("grasp", 200.0, true)]
    [InlineData("gradient-norm", 1.0, true)]
    public void SecondOrderMeasures_AreThetaTimesAFiniteDifferenceHg(string measure, double temperature, bool conv)
    {
        // The conv net has a bias and BatchNorm parameters that are not prunable: (Hḡ)_w must still use their ḡ.
        var (model, ps, x, y) = Setup();
        if (conv)
        {
            model = ScoringFixtures.Conv64();
            ps = PrunableParameters.Discover(model);
            (x, y) = ScoringFixtures.Samples(10, [1, 5, 5], 3, seed: 22);
        }
        // Independent ḡ and Hḡ over all trainable parameters: loop gradient, central difference of gradients.
        var g = ScoringFixtures.LoopMeanGradient(model, x, y, temperature);
        var v = model.named_parameters().Select(p => g[p.name]).ToList();
        double gNorm = Math.Sqrt(v.Sum(t => t.square().sum().item<double>()));
        var fd = ScoringFixtures.FiniteDifferenceHv(model, v, x, y, 1e-6 / gNorm, temperature);
        var names = model.named_parameters().Select(p => p.name).ToList();
        var thetaHg = Flat(ps.Select(p => p.Weight.detach().mul(fd[names.IndexOf(p.Name)])));

        var scores = Scores(measure, model, x, y);
        if (measure == "grasp")
        {
            ScoringFixtures.AssertClose(thetaHg, scores, 1e-5, measure);
            Assert.True(scores.lt(0).any().item<bool>(), "GraSP scores are signed; expected some negative ones");
        }
        else
            ScoringFixtures.AssertClose(thetaHg.abs(), scores, 1e-5, measure);
    }

    [Fact]
    public void GraspTemperature_ChangesTheScores()
    {
        var (model, _, x, y) = Setup();
        var data = ScoringData.FromTensors(x, y);
        var t200 = ScoringFixtures.Weights(new GraspMeasure(), model, data);
        var t1 = ScoringFixtures.Weights(new GraspMeasure(temperature: 1), model, data);
        Assert.False(t1.allclose(t200, rtol: 1e-2));
        Assert.Throws<SurgeonException>(() => new GraspMeasure(temperature: 0));
    }

    [Fact]
    public void DataDependentMeasures_WithoutData_AreErrors()
    {
        var (model, _, _, _) = Setup();
        foreach (var name in PruningMethods.Scores.Select(s => s.Name).Where(n => PruningMethods.Score(n).Needs.HasFlag(StageNeeds.Data)))
        {
            var ex = Assert.Throws<SurgeonException>(() => ScoringFixtures.Weights(PruningMethods.Score(name), model, null));
            Assert.Contains(name, ex.Message);
        }
    }

    [Fact]
    public void BnScale_ScoresFiltersByAbsGamma_AndRefusesSingleWeights()
    {
        var model = ScoringFixtures.Conv64();
        var gamma = model.named_parameters().Single(p => p.name == "bn.weight").parameter.detach();
        var scores = ScoringFixtures.Filters(PruningMethods.Score("bn-scale"), model, [model.Group], null);
        Assert.Equal(gamma.abs().data<double>().ToArray(), scores[0].Scores);
        Assert.Throws<SurgeonException>(() => ScoringFixtures.Weights(PruningMethods.Score("bn-scale"), model, null));
        var noNorm = model.Group with { Norms = [] };
        Assert.Throws<SurgeonException>(() => ScoringFixtures.Filters(PruningMethods.Score("bn-scale"), model, [noNorm], null));
    }

    [Fact]
    public void Registry_KnowsEveryMeasureByName_AndRejectsUnknownNames()
    {
        string[] expected = ["magnitude", "loss-preservation", "biased-loss", "grasp", "gradient-norm", "taylor", "fisher",
            "l1", "bn-scale", "snip", "synflow", "woodfisher"];
        Assert.Equal(expected.Order(), PruningMethods.Scores.Select(s => s.Name).Order());
        foreach (var name in expected)
            Assert.Equal(name, PruningMethods.Score(name).Name);
        Assert.Equal("grasp", PruningMethods.Score(" GraSP ").Name);
        var ex = Assert.Throws<SurgeonException>(() => PruningMethods.Score("hessian-trace"));
        Assert.Contains("hessian-trace", ex.Message);
        foreach (var name in expected) Assert.Contains(name, ex.Message);
    }
}
