using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Pruning;

namespace Surgeon.Tests.Compression;

public class PrunableSetTests
{
    [Fact]
    public void ResNet20PaperSet_IsTheEighteenBlockConvolutions_267264Weights()
    {
        var model = ModelRegistry.Create(new ModelSpec("resnet20", [3, 32, 32], 10, 1.0));
        var paper = PrunableParameters.Discover(model, PrunableSet.Paper);
        Assert.Equal(18, paper.Count);
        Assert.All(paper, p => Assert.Matches(@"^layer[123]\.[012]\.conv[12]\.weight$", p.Name));
        Assert.All(paper, p => Assert.Equal([3L, 3L], p.Shape[2..]));
        // The CBS paper's count for ResNet-20 on CIFAR-10 (Yu et al. 2022, Table 2).
        Assert.Equal(267_264, PrunableParameters.TotalCount(paper));

        var all = PrunableParameters.Discover(model, PrunableSet.All);
        // Plus the stem conv, the two projection shortcuts and the classifier.
        Assert.Equal(18 + 1 + 2 + 1, all.Count);
        Assert.False(PrunableParameters.SameInBoth(model));
        // The paper set keeps module order (the order of every flat vector).
        Assert.Equal(all.Where(a => paper.Any(p => p.Name == a.Name)).Select(a => a.Name), paper.Select(p => p.Name));
    }

    [Theory]
    [InlineData("mlpnet")]
    [InlineData("vgg13")]
    [InlineData("mobilenet-v1")]
    public void OtherModels_PaperSetIsEveryLinearAndConvWeight(string architecture)
    {
        var model = ModelRegistry.Create(new ModelSpec(architecture, [1, 28, 28], 10, 0.25));
        var paper = PrunableParameters.Discover(model, PrunableSet.Paper).Select(p => p.Name);
        var all = PrunableParameters.Discover(model, PrunableSet.All).Select(p => p.Name);
        Assert.Equal(all, paper);
        Assert.True(PrunableParameters.SameInBoth(model));
    }

    [Theory]
    [InlineData("paper", PrunableSet.Paper)]
    [InlineData(" ALL ", PrunableSet.All)]
    public void ParseSet_ReadsTheNames(string text, PrunableSet expected) =>
        Assert.Equal(expected, PrunableParameters.ParseSet(text));

    [Fact]
    public void ParseSet_UnknownNameIsAClearError()
    {
        var e = Assert.Throws<SurgeonException>(() => PrunableParameters.ParseSet("convs"));
        Assert.Contains("unknown prunable set 'convs'", e.Message);
    }

    [Fact]
    public void PaperSetPruning_LeavesTheOtherLayersUntouched()
    {
        TorchSharp.torch.manual_seed(4);
        var model = ModelRegistry.Create(new ModelSpec("resnet20", [1, 12, 12], 3, 0.25));
        var all = PrunableParameters.Discover(model, PrunableSet.All);
        var before = all.ToDictionary(p => p.Name, p => p.Weight.detach().clone());
        var context = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model, PrunableSet.Paper) };
        using var masks = PruningMethods.Get("mp").Prune(context, 0.7).Mask!;
        foreach (var p in all)
        {
            bool inPaper = context.Parameters.Any(q => q.Name == p.Name);
            long zeros = p.Weight.eq(0).sum().item<long>();
            if (inPaper) Assert.True(zeros > 0, $"{p.Name} was not pruned");
            else Assert.True(p.Weight.eq(before[p.Name]).all().item<bool>(), $"{p.Name} is outside the paper set but changed");
        }
    }
}
