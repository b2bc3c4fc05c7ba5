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

        // At 0.25 global drops -0.05 and 0.1. Layer-wise prunes ⌊0.25·8⌋ = 2 too: ⌊0.25·4⌋ = 1 of fc1 (0.1), and the one
        // left over goes to the largest remainder, 0.25·2 − 0 = 0.5, a tie of fc2 and fc3 that the earlier layer wins
        // (fc2 drops -0.05).
        snapshot.Restore();
        using (var masks = PruningMethods.Get("mp").Prune(ctx, 0.25).Mask!)
            Assert.Equal(new[] { false, true, true, true, true, false, true, true }, masks.Keep.data<bool>().ToArray());
        snapshot.Restore();
        using (var masks = PruningMethods.Get("lmp").Prune(ctx, 0.25).Mask!)
            Assert.Equal(new[] { false, true, true, true, true, false, true, true }, masks.Keep.data<bool>().ToArray());
        // At 0.375 (3 of 8): fc1 ⌊1.5⌋ = 1, fc2 ⌊0.75⌋ = 0, fc3 0; the 2 left over go to fc2 and fc3 (0.75) before fc1 (0.5).
        snapshot.Restore();
        using (var masks = PruningMethods.Get("lmp").Prune(ctx, 0.375).Mask!)
            Assert.Equal(new[] { false, true, true, true, true, false, true, false }, masks.Keep.data<bool>().ToArray());
    }

    [Theory]
    [InlineData(0.33)]
    [InlineData(0.5)]
    [InlineData(0.77)]
    [InlineData(0.95)]
    [InlineData(0.98)]
    public void LayerWise_PrunesExactlyTheFloorOfSTimesD_WithEachLayerWithinOneOfItsShare(double sparsity)
    {
        // 30→10→5→4: 300, 50, 20 weights, where the per-layer floors alone fall short of ⌊s·d⌋ at most sparsities.
        var model = TestModels.TinyMlp(inputs: 30, classes: 4, width: 0.25);
        var ctx = Context(model);
        long d = PrunableParameters.TotalCount(ctx.Parameters);
        using var masks = PruningMethods.Get("lmp").Prune(ctx, sparsity).Mask!;
        Assert.Equal((long)Math.Floor(sparsity * d + 1e-9), PrunableParameters.Flatten(ctx.Parameters).eq(0).sum().item<long>());
        foreach (var layer in masks.PerLayer())
            Assert.InRange(layer.Pruned, (long)Math.Floor(sparsity * layer.Total), (long)Math.Floor(sparsity * layer.Total) + 1);
    }

    public static TheoryData<long[], double> Apportionments => new()
    {
        { [4, 2, 2], 0.25 },
        { [4, 2, 2], 0.375 },
        { [300, 50, 20], 0.33 },
        { [300, 50, 20], 0.98 },
        { [31360, 800, 200], 0.95 },          // MLPNet
        { [31360, 800, 200], 0.98 },
        { [7, 7, 7, 7, 7, 7, 7], 0.5 },       // a seven-way tie of remainders
        { [3, 5, 11, 13, 17, 19, 23, 29], 0.61 },
        { [2, 3, 3, 3], 0.5 },
    };

    [Theory]
    [MemberData(nameof(Apportionments))]
    public void PerLayerCounts_AreTheBestApportionment_FoundByBruteForce(long[] sizes, double sparsity)
    {
        // Independent reference: every way to give each layer ⌊s·d_l⌋ or one more, summing to ⌊s·d⌋; the best has the
        // smallest total distance Σ|c_l − s·d_l| to the exact shares, ties going to the one whose extras sit earliest.
        long k = (long)Math.Floor(sparsity * sizes.Sum() + 1e-9);
        long[]? best = null;
        double bestDistance = double.MaxValue;
        for (int bits = 0; bits < 1 << sizes.Length; bits++)
        {
            var c = sizes.Select((d, l) => (long)Math.Floor(sparsity * d) + ((bits >> (sizes.Length - 1 - l)) & 1)).ToArray();
            if (c.Sum() != k || c.Where((x, l) => x >= sizes[l]).Any()) continue;
            double distance = c.Select((x, l) => Math.Abs(x - sparsity * sizes[l])).Sum();
            if (distance < bestDistance - 1e-12) (best, bestDistance) = (c, distance); // bits count down from the first layer: earliest extras come last
            else if (Math.Abs(distance - bestDistance) < 1e-12) best = c;
        }
        Assert.NotNull(best);
        Assert.Equal(best, SparsityTarget.PerLayerCounts(sparsity, sizes));
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

    [Theory]
    [InlineData(0.001, "0.001")]
    [InlineData(0.0, "0")]
    [InlineData(-0.0, "-0")]
    [InlineData(4.9e-324, "5E-324")]
    [InlineData(2.2250738585072014e-308, "2.2250738585072014E-308")]
    public void SparsityThatPrunesNoWeight_IsRejected_LikeOneThatRoundsToZero(double s, string shown)
    {
        var e = Assert.Throws<SurgeonException>(() => SparsityTarget.PruneCount(s, 100));
        Assert.Equal($"sparsity {shown} of 100 weights rounds to zero weights to prune; ask for at least 0.01", e.Message);
        var model = TestModels.TinyMlp(inputs: 30, classes: 4, width: 0.25);
        foreach (string method in new[] { "mp", "lmp" })
            Assert.Contains("rounds to zero weights", Assert.Throws<SurgeonException>(() => PruningMethods.Get(method).Prune(Context(model), s)).Message);
    }

    [Fact]
    public void UnknownMethod_ListsTheKnownOnes()
    {
        var e = Assert.Throws<SurgeonException>(() => PruningMethods.Get("magic"));
        Assert.Contains("mp", e.Message);
        Assert.Contains("lmp", e.Message);
    }
}
