using Surgeon.Selection.Projections;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>
/// Every projection Π_S against the brute-force nearest point of its set (all supports of at most k groups
/// enumerated, groups written out from the structure's definition) on random small tensors, keep counts from 1 to G.
/// </summary>
public class ProjectionTests
{
    /// <summary>Random float32-representable values, so the float32 tensor and the double reference hold the same numbers.</summary>
    private static double[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (double)(float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    private static void AssertIsNearestPoint(IProjection projection, long[] shape, int[][] groups, int seed)
    {
        int n = (int)shape.Aggregate(1L, (a, b) => a * b);
        var w = Random(n, seed);
        using var weight = tensor(w.Select(v => (float)v).ToArray()).reshape(shape);
        for (int k = 1; k <= groups.Length; k++)
        {
            var (point, margin) = BruteForceProjection.Nearest(w, groups, k);
            using var projected = projection.Project(weight, KeepTarget.OfCount(k), "test");
            using var mask = projection.KeepMask(weight, KeepTarget.OfCount(k), "test");
            Assert.Equal(shape, projected.shape);
            Assert.Equal(shape, mask.shape);
            var got = projected.flatten().data<float>().ToArray();
            var kept = mask.flatten().data<bool>().ToArray();
            Assert.True(k == groups.Length || margin > 1e-9, $"seed {seed}, k {k}: two supports tie, the comparison would not decide");
            for (int i = 0; i < n; i++)
            {
                Assert.True(got[i] == (float)point[i], $"{projection.Name} seed {seed} k {k}: entry {i} is {got[i]}, the nearest point has {point[i]}");
                Assert.Equal(point[i] != 0, kept[i]);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Unstructured_IsTheNearestPoint(int seed)
    {
        AssertIsNearestPoint(new UnstructuredProjection(), [2, 3], BruteForceProjection.Single(6), seed);
        AssertIsNearestPoint(new UnstructuredProjection(), [2, 1, 2, 2], BruteForceProjection.Single(8), seed + 10);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Filters_AreTheNearestPoint(int seed)
    {
        AssertIsNearestPoint(new FilterProjection(), [5, 2, 2, 2], BruteForceProjection.Filters(5, 8), seed);
        AssertIsNearestPoint(new FilterProjection(), [6, 4], BruteForceProjection.Filters(6, 4), seed + 10); // a linear layer's neurons
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Columns_AreTheNearestPoint(int seed)
    {
        AssertIsNearestPoint(new ColumnProjection(), [3, 2, 2, 2], BruteForceProjection.Columns(3, 8), seed);
        AssertIsNearestPoint(new ColumnProjection(), [4, 7], BruteForceProjection.Columns(4, 7), seed + 10);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Channels_AreTheNearestPoint(int seed)
    {
        AssertIsNearestPoint(new ChannelProjection(), [3, 4, 2, 2], BruteForceProjection.Channels(3, 4, 2, 2), seed);
        AssertIsNearestPoint(new ChannelProjection(), [2, 6, 1, 3], BruteForceProjection.Channels(2, 6, 1, 3), seed + 10);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void CrossbarBlocks_AreTheNearestPoint_WithSmallerEdgeTiles(int seed)
    {
        // 5 × 7 in tiles of 2 × 3: 3 × 3 tiles, the last row and column of tiles cut short.
        AssertIsNearestPoint(new CrossbarBlockProjection(2, 3), [5, 7], BruteForceProjection.Tiles(5, 7, 2, 3), seed);
        // A conv [4, 2, 2, 2] is the 4 × 8 matrix: tiles of 3 × 4 give 2 × 2 tiles.
        AssertIsNearestPoint(new CrossbarBlockProjection(3, 4), [4, 2, 2, 2], BruteForceProjection.Tiles(4, 8, 3, 4), seed + 10);
        // A tile larger than the matrix is the whole matrix: one group.
        AssertIsNearestPoint(new CrossbarBlockProjection(8, 8), [3, 4], BruteForceProjection.Tiles(3, 4, 8, 8), seed + 20);
    }

    [Fact]
    public void KeepRatio_KeepsGMinusFloorOfThePrunedShare()
    {
        Assert.Equal(3, KeepTarget.OfRatio(0.3).GroupsToKeep(10, "x"));  // ⌊0.7·10⌋ = 7 pruned
        Assert.Equal(7, KeepTarget.OfRatio(0.7).GroupsToKeep(10, "x"));
        Assert.Equal(10, KeepTarget.OfRatio(1).GroupsToKeep(10, "x"));
        Assert.Equal(1, KeepTarget.OfRatio(0.01).GroupsToKeep(10, "x")); // at least one
        Assert.Equal(4, KeepTarget.OfRatio(0.125).GroupsToKeep(25, "x")); // ⌊0.875·25⌋ = 21 pruned
        using var w = randn(10, 3);
        using var mask = new FilterProjection().KeepMask(w, KeepTarget.OfRatio(0.3), "fc");
        Assert.Equal(9, mask.sum().item<long>()); // 3 rows of 3
    }

    [Fact]
    public void ProjectionsThatDoNotFit_AreOneLineErrors()
    {
        using var linear = randn(10, 6);
        using var bias = randn(10);
        string Error(Action a) => Assert.Throws<SurgeonException>(a).Message;
        Assert.Equal("a keep ratio must be in (0, 1], got 0", Error(() => KeepTarget.OfRatio(0)));
        Assert.Equal("a keep ratio must be in (0, 1], got 1.5", Error(() => KeepTarget.OfRatio(1.5)));
        Assert.Equal("a keep ratio must be in (0, 1], got NaN", Error(() => KeepTarget.OfRatio(double.NaN)));
        Assert.Equal("a projection keeps at least 1 group, got 0", Error(() => KeepTarget.OfCount(0)));
        Assert.Equal("fc.weight (filters): keeping 11 groups, but the layer has only 10",
            Error(() => new FilterProjection().KeepMask(linear, KeepTarget.OfCount(11), "fc.weight")));
        Assert.Equal("fc.weight: a channel-wise projection needs a conv weight [F, C, k, k], got [10, 6]; for a linear layer use columns",
            Error(() => new ChannelProjection().KeepMask(linear, KeepTarget.OfRatio(0.5), "fc.weight")));
        Assert.Equal("fc.bias: a filter-wise projection needs a conv or linear weight (at least 2 dims), got [10]",
            Error(() => new FilterProjection().KeepMask(bias, KeepTarget.OfRatio(0.5), "fc.bias")));
        Assert.Equal("a crossbar tile needs at least one row and one column, got 0×4", Error(() => new CrossbarBlockProjection(0, 4)));
        Assert.Equal("unknown projection 'rows': known projections are unstructured, filters, columns, channels, crossbar:RxC",
            Error(() => Projections.Parse("rows")));
        Assert.Equal("projection 'crossbar:4': a crossbar tile is written crossbar:RxC with positive integers, e.g. crossbar:64x128",
            Error(() => Projections.Parse("crossbar:4")));
        Assert.Equal("projection 'filters+filters' names filters twice", Error(() => Projections.Parse("filters+filters")));
        Assert.Single(Error(() => Projections.Parse("filters+")).Split('\n'));
        // Unstructured fits any shape, a bias too.
        using var kept = new UnstructuredProjection().KeepMask(bias, KeepTarget.OfCount(3), "fc.bias");
        Assert.Equal(3, kept.sum().item<long>());
    }

    [Fact]
    public void Parse_NamesOneProjectionPerConstraint()
    {
        Assert.Equal(["filters", "columns"], Projections.Parse("filters + columns").Select(p => p.Name));
        Assert.Equal(["crossbar:64x128"], Projections.Parse("crossbar:64x128").Select(p => p.Name));
        Assert.Equal(["columns"], Projections.Parse("shapes").Select(p => p.Name));
    }

    /// <summary>
    /// Filter + column: each Z is its own set's projection, and the hard-prune mask (their AND) lies in both sets,
    /// so the pruned layer has at most k_f nonzero filters and at most k_c nonzero columns.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void FilterPlusColumn_HardPruneMask_LiesInBothSets(int seed)
    {
        manual_seed(seed);
        using var w = randn(6, 3, 2, 2);
        using var filters = new FilterProjection().KeepMask(w, KeepTarget.OfCount(4), "conv");
        using var columns = new ColumnProjection().KeepMask(w, KeepTarget.OfCount(5), "conv");
        using var both = CombinedConstraints.HardPruneMask([filters, columns]);
        var f = filters.reshape(6, 12).data<bool>().ToArray();
        var c = columns.reshape(6, 12).data<bool>().ToArray();
        var m = both.reshape(6, 12).data<bool>().ToArray();
        for (int i = 0; i < m.Length; i++) Assert.Equal(f[i] && c[i], m[i]);
        int rows = Enumerable.Range(0, 6).Count(r => Enumerable.Range(0, 12).Any(j => m[r * 12 + j]));
        int cols = Enumerable.Range(0, 12).Count(j => Enumerable.Range(0, 6).Any(r => m[r * 12 + j]));
        Assert.Equal((4, 5), (rows, cols));
    }
}
