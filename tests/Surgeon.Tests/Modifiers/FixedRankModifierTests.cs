using Surgeon.Modifiers;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

/// <summary>
/// Fine-tuning in factored form: the projection puts a Linear weight and a conv's F × C·k·k filter matrix on A·Q·Qᵀ,
/// Q the top-r eigenvectors of AᵀA (an eigen-decomposition in float64, not the SVD the modifier uses), which is the best
/// rank-r approximation; unlisted weights stay; bad rank maps are refused.
/// </summary>
public class FixedRankModifierTests
{
    /// <summary>A·Q·Qᵀ with Q the eigenvectors of AᵀA of the <paramref name="rank"/> largest eigenvalues.</summary>
    private static Tensor BestRank(Tensor a, int rank)
    {
        var (_, vectors) = linalg.eigh(a.T.matmul(a)); // ascending eigenvalues
        var q = vectors[.., TensorIndex.Slice(vectors.shape[1] - rank)];
        return a.matmul(q).matmul(q.T);
    }

    [Fact]
    public void Project_PutsEachListedWeightOnItsBestRankRApproximation()
    {
        manual_seed(4);
        using var model = nn.Sequential(("fc", nn.Linear(5, 7)), ("conv", nn.Conv2d(3, 4, 2)), ("head", nn.Linear(4, 3)));
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var fc = named["fc.weight"].detach().to(float64).clone();
        using var conv = named["conv.weight"].detach().to(float64).reshape(4, 12).clone();
        using var head = named["head.weight"].detach().clone();
        var modifier = new FixedRankModifier(new Dictionary<string, int> { ["fc.weight"] = 2, ["conv.weight"] = 3 });
        modifier.Bind(model);
        using var fcExpected = BestRank(fc, 2);
        using var convExpected = BestRank(conv, 3);
        Assert.True(named["fc.weight"].detach().to(float64).allclose(fcExpected, rtol: 0, atol: 1e-5));
        Assert.True(named["conv.weight"].detach().to(float64).reshape(4, 12).allclose(convExpected, rtol: 0, atol: 1e-5));
        Assert.True(named["head.weight"].detach().eq(head).all().item<bool>(), "an unlisted weight moved");
        // A weight already of rank r stays where it is (up to float32 round-off).
        using var again = named["fc.weight"].detach().clone();
        modifier.Project();
        Assert.True(named["fc.weight"].detach().allclose(again, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void Bind_RefusesAWeightTheModelLacks()
    {
        using var model = nn.Sequential(("fc", nn.Linear(5, 7)));
        var modifier = new FixedRankModifier(new Dictionary<string, int> { ["fc2.weight"] = 2 });
        Assert.Equal("fixed-rank: the model has no weight matrix 'fc2.weight'", Assert.Throws<SurgeonException>(() => modifier.Bind(model)).Message);
        var bias = new FixedRankModifier(new Dictionary<string, int> { ["fc.bias"] = 2 });
        Assert.Throws<SurgeonException>(() => bias.Bind(model));
    }

    [Theory]
    [InlineData("fc1.weight=0")]
    [InlineData("fc1.weight=2.5")]
    [InlineData("fc1.weight")]
    [InlineData("fc1.weight=2,fc1.weight=3")]
    [InlineData("")]
    public void ParseRanks_RefusesBadMaps(string text) =>
        Assert.Throws<SurgeonException>(() => FixedRankModifier.ParseRanks(text));

    [Fact]
    public void Format_RoundTrips()
    {
        var ranks = FixedRankModifier.ParseRanks("fc1.weight=8, fc2.weight=11");
        Assert.Equal(new Dictionary<string, int> { ["fc1.weight"] = 8, ["fc2.weight"] = 11 }, ranks);
        Assert.Equal("fc1.weight=8,fc2.weight=11", FixedRankModifier.Format(ranks));
    }
}
