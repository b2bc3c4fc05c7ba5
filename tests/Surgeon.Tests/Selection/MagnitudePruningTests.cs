using Surgeon.Compression;
using Surgeon.Pruning;
using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

public class MagnitudePruningTests
{
    private static PruningContext Context(nn.Module<Tensor, Tensor> model) =>
        new() { Model = model, Parameters = PrunableParameters.Discover(model) };

    [Fact]
    public void Discover_FindsLinearWeightsOnly_InModuleOrder()
    {
        var model = TestModels.TinyMlp(inputs: 6, classes: 2, width: 0.1); // 6→4→2→2
        var ps = PrunableParameters.Discover(model);
        Assert.Equal(["fc1.weight", "fc2.weight", "fc3.weight"], ps.Select(p => p.Name));
        Assert.Equal(6 * 4 + 4 * 2 + 2 * 2, PrunableParameters.TotalCount(ps));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.9)]
    [InlineData(0.33)]
    [InlineData(0.98)]
    public void Apply_GivesExactZeros_AndTheRequestedSparsity(double sparsity)
    {
        var model = TestModels.TinyMlp(inputs: 30, classes: 4, width: 0.5);
        var ctx = Context(model);
        long d = PrunableParameters.TotalCount(ctx.Parameters);
        using var masks = PruningMethods.Get("mp").Prune(ctx, sparsity).Mask!;
        long zeros = PrunableParameters.Flatten(ctx.Parameters).eq(0).sum().item<long>();
        Assert.Equal(masks.PrunedCount, zeros);
        Assert.InRange(masks.PrunedCount, (long)Math.Floor(sparsity * d) - 1, (long)Math.Floor(sparsity * d) + 1);
        Assert.Equal((long)Math.Floor(sparsity * d + 1e-9), masks.PrunedCount);
        // Every masked weight is zero and every kept one is not (random init has no zeros).
        var w = PrunableParameters.Flatten(ctx.Parameters);
        Assert.True(w.masked_select(masks.Keep.logical_not()).eq(0).all().item<bool>());
        Assert.True(w.masked_select(masks.Keep).ne(0).all().item<bool>());
    }

    [Fact]
    public void GlobalAndLayerWise_PickTheRightWeights_OnAHandBuiltExample()
    {
        // MLPNet(2 inputs, 2 classes, width 0.05): fc1 2→2 (4 weights), fc2 2→1 (2), fc3 1→2 (2): 8 weights.
        var model = TestModels.TinyMlp(inputs: 2, classes: 2, width: 0.05);
        float[] w = [0.1f, -5f, 0.2f, 4f, /* fc2 */ 3f, -0.05f, /* fc3 */ 2f, -1f];
        TestModels.SetWeights(model, w);
        var ctx = Context(model);
        using var snapshot = new Surgeon.Training.ModelSnapshot(model);

        // Global, 50% of 8 = 4 smallest |w|: -0.05, 0.1, 0.2, -1.
        using (var masks = PruningMethods.Get("mp").Prune(ctx, 0.5).Mask!)
            Assert.Equal(new[] { false, true, false, true, true, false, true, false }, masks.Keep.data<bool>().ToArray());

        // Layer-wise, 50% of each layer: fc1 drops 0.1, 0.2; fc2 drops -0.05; fc3 drops -1.
        snapshot.Restore();
        using (var masks = PruningMethods.Get("lmp").Prune(ctx, 0.5).Mask!)
        {
            Assert.Equal(new[] { false, true, false, true, true, false, true, false }, masks.Keep.data<bool>().ToArray());
            Assert.All(masks.PerLayer(), l => Assert.Equal(0.5, l.Sparsity));
        }

        // At 0.25 they differ: global drops -0.05 and 0.1; layer-wise drops ⌊0.25·4⌋ = 1 of fc1 (0.1) and none of fc2, fc3.
        snapshot.Restore();
        using (var masks = PruningMethods.Get("mp").Prune(ctx, 0.25).Mask!)
            Assert.Equal(new[] { false, true, true, true, true, false, true, true }, masks.Keep.data<bool>().ToArray());
        snapshot.Restore();
        using (var masks = PruningMethods.Get("lmp").Prune(ctx, 0.25).Mask!)
            Assert.Equal(new[] { false, true, true, true, true, true, true, true }, masks.Keep.data<bool>().ToArray());
    }

    [Fact]
    public void Ties_AreBrokenByPosition()
    {
        using var scores = tensor(new float[] { 1, 1, 1, 1, 2 });
        using var keep = TopK.PruneLowest(scores, 2);
        Assert.Equal(new[] { false, false, true, true, true }, keep.data<bool>().ToArray());
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void SparsityOutsideRange_IsRejected(double s)
    {
        Assert.Contains("sparsity must be in [0, 1)", Assert.Throws<SurgeonException>(() => SparsityTarget.Validate(s)).Message);
    }

    [Fact]
    public void SparsityThatRoundsToZeroWeights_IsRejected()
    {
        Assert.Contains("rounds to zero", Assert.Throws<SurgeonException>(() => SparsityTarget.PruneCount(0.001, 100)).Message);
    }

    [Fact]
    public void UnknownMethod_ListsTheKnownOnes()
    {
        var e = Assert.Throws<SurgeonException>(() => PruningMethods.Get("magic"));
        Assert.Contains("mp", e.Message);
        Assert.Contains("lmp", e.Message);
    }
}
