using Surgeon.Data;
using Surgeon.Pruning;
using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Scoring;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

public class FilterScoresTests
{
    /// <summary>The aggregate of one channel's values, written out with plain loops.</summary>
    private static double HandAggregate(double[] v, FilterAggregation aggregation) => aggregation switch
    {
        FilterAggregation.AbsThenSum or FilterAggregation.L1Norm or FilterAggregation.NormScale => v.Sum(Math.Abs),
        FilterAggregation.SumThenAbs => Math.Abs(v.Sum()),
        FilterAggregation.Sum => v.Sum(),
        FilterAggregation.L2Norm => Math.Sqrt(v.Sum(a => a * a)),
        _ => throw new ArgumentOutOfRangeException(nameof(aggregation)),
    };

    [Theory]
    [InlineData(FilterAggregation.AbsThenSum)]
    [InlineData(FilterAggregation.SumThenAbs)]
    [InlineData(FilterAggregation.Sum)]
    [InlineData(FilterAggregation.L2Norm)]
    [InlineData(FilterAggregation.L1Norm)]
    [InlineData(FilterAggregation.NormScale)]
    public void Aggregate_EqualsAHandLoop_SummedOverProducers(FilterAggregation aggregation)
    {
        manual_seed(3);
        // Group a: a conv [3,2,2,2] plus a depthwise-like producer [3,1,3,3]; group b: a linear [2,5].
        var raw = new Dictionary<string, Tensor>
        {
            ["conv.weight"] = randn(3, 2, 2, 2, float64),
            ["dw.weight"] = randn(3, 1, 3, 3, float64),
            ["fc.weight"] = randn(2, 5, float64),
            ["bn_a.weight"] = randn(3, float64),
            ["bn_b.weight"] = randn(2, float64),
        };
        var groups = new[]
        {
            new FilterGroup("a", 3, ["conv.weight", "dw.weight"], ["bn_a.weight"]),
            new FilterGroup("b", 2, ["fc.weight"], ["bn_b.weight"]),
        };
        var scores = FilterScores.Aggregate(raw, aggregation, groups);
        Assert.Equal(2, scores.Count);
        foreach (var (group, result) in groups.Zip(scores))
        {
            Assert.Same(group, result.Group);
            var inputs = aggregation == FilterAggregation.NormScale ? group.Norms : group.Producers;
            for (int c = 0; c < group.Channels; c++)
            {
                double expected = 0;
                foreach (var name in inputs)
                {
                    var t = raw[name];
                    long per = t.numel() / group.Channels;
                    var all = t.flatten().data<double>().ToArray();
                    expected += HandAggregate(all.Skip((int)(c * per)).Take((int)per).ToArray(), aggregation);
                }
                Assert.Equal(expected, result.Scores[c], 12);
            }
        }
    }

    [Fact]
    public void AProducerWhoseDim0IsNotTheGroupsChannelCount_IsAnError()
    {
        var raw = new Dictionary<string, Tensor> { ["fc.weight"] = zeros(4, 5, float64) };
        var ex = Assert.Throws<SurgeonException>(() =>
            FilterScores.Aggregate(raw, FilterAggregation.Sum, [new FilterGroup("fc", 3, ["fc.weight"], [])]));
        Assert.Contains("3 channels", ex.Message);
    }

    [Fact]
    public void Compute_OnTheConvNet_AggregatesTheMeasuresRawScoresOfTheConvWeight()
    {
        var model = ScoringFixtures.Conv64();
        var (x, y) = ScoringFixtures.Samples(6, [1, 5, 5], 3, seed: 9);
        var g = ScoringFixtures.LoopMeanGradient(model, x, y);
        var theta = model.named_parameters().Single(p => p.name == "conv.weight").parameter.detach();
        var thetaG = theta.mul(g["conv.weight"]).flatten(1).data<double>().ToArray();
        var data = ScoringData.FromTensors(x, y, batchSize: 4);

        var taylor = ScoringFixtures.Filters(PruningMethods.Score("taylor"), model, [model.Group], data)[0].Scores;
        var lossPreservation = ScoringFixtures.Filters(PruningMethods.Score("loss-preservation"), model, [model.Group], data)[0].Scores;
        var magnitude = ScoringFixtures.Filters(PruningMethods.Score("magnitude"), model, [model.Group], null)[0].Scores;
        var w = theta.flatten(1).data<double>().ToArray();
        for (int c = 0; c < 4; c++)
        {
            var slice = thetaG.Skip(c * 9).Take(9).ToArray();
            Assert.Equal(Math.Abs(slice.Sum()), taylor[c], 10);
            Assert.Equal(slice.Sum(Math.Abs), lossPreservation[c], 10);
            Assert.Equal(Math.Sqrt(w.Skip(c * 9).Take(9).Sum(a => a * a)), magnitude[c], 12);
        }
    }
}
