using Surgeon.Compression;
using Surgeon.Selection;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>Purification on hand-made layers: which kept groups fall below τ · (mean kept-group norm), counted by hand.</summary>
public class NetworkPurificationTests
{
    // MLPNet 4→4→2→3 without biases (width 0.1): fc1 [4, 4], fc2 [2, 4], fc3 [3, 2], 30 weights in that order.
    private static readonly float[] Fc1 =
    [
        3, 4, 0, 0,     // row 0: ‖·‖ = 5
        0.1f, 0, 0, 0,  // row 1: 0.1
        0, 0, 2, 0,     // row 2: 2
        0, 0, 0, 0,     // row 3: pruned, but entry (3, 0) stays in the mask (a kept zero): norm 0
    ];

    private static readonly float[] Fc2 =
    [
        1, 0, 0.05f, 0,   // column norms: c0 = √(1 + 4) = 2.236, c1 = 0.3 (kept), c2 = 0.05, c3 = 0 (pruned)
        2, 0.3f, 0, 0,
    ];

    private static readonly float[] Fc3 = [1, 1, 1, 1, 1, 1];

    private static (nn.Module<Tensor, Tensor> Model, MaskSet Masks) Fixture()
    {
        var model = TestModels.TinyMlp(inputs: 4, classes: 3, width: 0.1);
        TestModels.SetWeights(model, [.. Fc1, .. Fc2, .. Fc3]);
        var parameters = PrunableParameters.Discover(model);
        var keep = Fc1.Concat(Fc2).Concat(Fc3).Select(v => v != 0).ToArray();
        keep[12] = true; // fc1 (3, 0): kept though zero
        return (model, new MaskSet(parameters, tensor(keep)));
    }

    [Theory]
    [InlineData(0.1, new[] { 0, 2 })]       // cut = 0.1 · (5 + 0.1 + 2 + 0) / 4 = 0.1775: rows 1 (0.1) and 3 (0) go
    [InlineData(0.5, new[] { 0, 2 })]       // cut = 0.8875
    [InlineData(1.0, new[] { 0, 2 })]       // cut = 1.775: row 2 (2) still stays
    [InlineData(0.01, new[] { 0, 1, 2 })]   // cut = 0.01775: only the kept zero row goes
    public void Filters_BelowTheLayersMeanShare_AreRemoved(double tau, int[] survivors)
    {
        var (model, masks) = Fixture();
        var (purified, rows) = NetworkPurification.Purify(masks, tau, PurifiedGroups.Filters);
        var fc1 = rows.Single(r => r.Name == "fc1.weight");
        Assert.Equal((4L, (long)survivors.Length), (fc1.KeptBefore, fc1.KeptAfter));
        var mask = purified.LayerMask(0).data<bool>().ToArray();
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++)
                Assert.Equal(survivors.Contains(r) && (Fc1[r * 4 + c] != 0), mask[r * 4 + c]);
        // The removed weights are zeros in the model; the kept ones untouched.
        var w = model.named_parameters().Single(p => p.name == "fc1.weight").parameter.data<float>().ToArray();
        for (int i = 0; i < 16; i++) Assert.Equal(survivors.Contains(i / 4) ? Fc1[i] : 0f, w[i]);
        Assert.Equal(masks.Total - masks.Keep.sum().item<long>() + rows.Sum(r => r.WeightsRemoved), purified.PrunedCount);
    }

    [Fact]
    public void Columns_AreWeighedOnTheMaskedWeights()
    {
        var (_, masks) = Fixture();
        // fc2's kept columns: c0 (2.236), c1 (0.3), c2 (0.05); mean 0.862; τ = 0.5 → cut 0.431: c1 and c2 go.
        var (purified, rows) = NetworkPurification.Purify(masks, 0.5, PurifiedGroups.Columns);
        var fc2 = rows.Single(r => r.Name == "fc2.weight");
        Assert.Equal((3L, 1L, 2L), (fc2.KeptBefore, fc2.KeptAfter, fc2.WeightsRemoved));
        Assert.Equal([true, false, false, false, true, false, false, false], purified.LayerMask(1).flatten().data<bool>().ToArray());
        // fc3: all six weights 1, both columns norm √3: nothing below half the mean.
        Assert.Equal(0L, rows.Single(r => r.Name == "fc3.weight").WeightsRemoved);
    }

    [Fact]
    public void FiltersThenColumns_WeighColumnsAfterTheFilterCut()
    {
        var (_, masks) = Fixture();
        // After rows 1 and 3 of fc1 go (τ = 0.5), fc1's columns: c0 = 3, c2 = 2, c1 = 4 (c3 empty); mean 3, cut 1.5: none go.
        var (_, rows) = NetworkPurification.Purify(masks, 0.5, PurifiedGroups.Filters, PurifiedGroups.Columns);
        Assert.Equal((3L, 3L), rows.Where(r => r.Name == "fc1.weight" && r.Groups == PurifiedGroups.Columns).Select(r => (r.KeptBefore, r.KeptAfter)).Single());
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void ThresholdOutsideZeroToOne_IsAOneLineError(double tau)
    {
        var (_, masks) = Fixture();
        var e = Assert.Throws<SurgeonException>(() => NetworkPurification.Purify(masks, tau, PurifiedGroups.Filters));
        Assert.StartsWith("the purification threshold τ must be in (0, 1]", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
