using Surgeon.Models;
using Surgeon.Quantization;
using Surgeon.Reports;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Reports;

/// <summary>The crossbar view against counts and conductances worked out by hand on tiny layers.</summary>
public class CrossbarTests
{
    [Fact]
    public void LinearLayer_TilesAndEmptyTiles_AsCountedByHand()
    {
        // 3 outputs × 5 inputs on 2×4 tiles (2 outputs per tile as pairs): ⌈5/2⌉ = 3 row tiles × ⌈3/2⌉ = 2 column tiles.
        // Output 2 is all zero (its 3 tiles are empty); inputs 2 and 3 of outputs 0 and 1 are zero (tile rows 2–3,
        // outputs 0–1 empty). Nonzero: outputs 0, 1 at inputs 0, 1, 4 → 6 weights, 12 cells, of 6·8 = 48 and 2·8 = 16.
        var w = tensor(new[,]
        {
            { 0.5f, -1f, 0f, 0f, 0.25f },
            { 1f, 0.75f, 0f, 0f, -0.5f },
            { 0f, 0f, 0f, 0f, 0f },
        });
        var options = new CrossbarOptions { Rows = 2, Columns = 4 };
        using var mapping = new CrossbarMapping(w, options);
        Assert.Equal((5L, 3L, 3L, 2L, 6L), (mapping.Inputs, mapping.Outputs, mapping.RowTiles, mapping.ColumnTiles, mapping.Tiles));
        Assert.Equal(4, mapping.EmptyTiles);
        Assert.Equal(new[] { false, true, false, true, true, true }, mapping.EmptyTileMask().data<bool>().ToArray());
        Assert.Equal(6, mapping.NonzeroWeights);

        var model = nn.Sequential(("fc", nn.Linear(5, 3, hasBias: false)));
        using (no_grad()) ((TorchSharp.Modules.Linear)model[0]).weight!.copy_(w);
        var report = CrossbarReport.Measure(model, options);
        var layer = Assert.Single(report.Layers);
        Assert.Equal(new CrossbarLayer("fc", 5, 3, 15, 6, 6, 4, 8), layer);
        Assert.Equal((2L, 12L, 12.0 / 48, 12.0 / 16), (layer.TilesKept, layer.CellsInUse, layer.UseOfAllTiles, layer.UseOfKeptTiles));
        Assert.Contains("| `fc` | 5 × 3 | 15 | 6 | 6 | 4 | 2 | 25.00 % | 75.00 % |", report.ToMarkdown());
    }

    [Fact]
    public void Conv_IsFiltersTimesChannelsKernel_OnTiles()
    {
        // Conv 2 → 3 channels, 2×2 kernel: a 3 × 8 matrix (D = 2·2·2). Tiles of 4 rows × 2 columns (1 output each):
        // 2 row tiles × 3 column tiles. Filter 1's first input channel (inputs 0–3) is zero → tile (row 0, output 1) empty.
        manual_seed(1);
        var conv = nn.Conv2d(2, 3, 2, bias: false);
        using (no_grad())
        {
            conv.weight!.copy_(rand(3, 2, 2, 2).add(tensor(0.1f), Surgeon.Numerics.HeldScalars.One));
            conv.weight![1, 0].zero_();
        }
        using var mapping = new CrossbarMapping(conv.weight!, new CrossbarOptions { Rows = 4, Columns = 2 });
        Assert.Equal((8L, 3L, 6L, 1L, 20L), (mapping.Inputs, mapping.Outputs, mapping.Tiles, mapping.EmptyTiles, mapping.NonzeroWeights));
        Assert.Equal(new[] { false, false, true, false, false, false }, mapping.EmptyTileMask().data<bool>().ToArray());
    }

    [Fact]
    public void Conductances_AndReadBack_AsComputedByHand()
    {
        // b = 2: L = 4 levels, G in [1, 4] so ΔG = 1; w_max = 1, Δw = 1/3. |w|/Δw = 1.5, 0.75, 0, 3 → levels 2 (half to
        // even), 1, 0, 3 on the cell of the weight's sign; the other cell stays at G_min = 1.
        var w = tensor(new[,] { { 0.5f, -0.25f, 0f, 1f } });
        using var mapping = new CrossbarMapping(w, new CrossbarOptions { Rows = 4, Columns = 2, GMin = 1, GMax = 4, LevelBits = 2 });
        Assert.Equal(new[] { 2, -1, 0, 3 }, mapping.Levels.data<int>().ToArray());
        var (gPos, gNeg) = mapping.Conductances();
        Assert.Equal(new[] { 3.0, 1, 1, 4 }, gPos.data<double>().ToArray());
        Assert.Equal(new[] { 1.0, 2, 1, 1 }, gNeg.data<double>().ToArray());
        var back = mapping.ReadBack(gPos, gNeg, w).data<float>().ToArray();
        Assert.Equal(new[] { 2f / 3, -1f / 3, 0f, 1f }, back, new FloatTolerance(1e-6f));

        // G' = G·(1 + σε) with chosen ε; a negative result is clamped to 0.
        var noisy = CrossbarMapping.Perturb(tensor(new[] { 2.0, 3.0, 1.0 }), 0.5, tensor(new[] { 1.0, -1.0, -3.0 }));
        Assert.Equal(new[] { 3.0, 1.5, 0.0 }, noisy.data<double>().ToArray());
    }

    [Fact]
    public void Variation_IsReproducible_ZeroSigmaIsTheNoiselessModel_AndTheWeightsAreRestored()
    {
        var data = TestModels.RandomImages(60, 1, 6, 6, 3);
        manual_seed(4);
        using var model = new MLPNet(36, 3, width: 0.5);
        var options = new CrossbarOptions { Rows = 16, Columns = 8, LevelBits = 3 };
        var before = WeightedLayers.Weights(model).Select(p => p.Weight.data<float>().ToArray()).ToList();

        var still = CrossbarVariation.Evaluate(model, data, options, sigma: 0, draws: 3);
        Assert.All(still.Draws, a => Assert.Equal(still.Noiseless, a));
        Assert.Equal(0, still.Std);

        // The noiseless accuracy by hand: each weight set to its read-back value, evaluated.
        using (var copy = new MLPNet(36, 3, width: 0.5))
        {
            using (no_grad())
                foreach (var ((_, w), (_, c)) in WeightedLayers.Weights(model).Zip(WeightedLayers.Weights(copy)))
                {
                    using var m = new CrossbarMapping(w, options);
                    var (p, n) = m.Conductances();
                    c.copy_(m.ReadBack(p, n, w));
                }
            Assert.Equal(Evaluator.Evaluate(copy, data).Accuracy, still.Noiseless);
        }

        var a = CrossbarVariation.Evaluate(model, data, options, sigma: 0.3, draws: 4, seed: 7);
        var b = CrossbarVariation.Evaluate(model, data, options, sigma: 0.3, draws: 4, seed: 7);
        var c2 = CrossbarVariation.Evaluate(model, data, options, sigma: 0.3, draws: 4, seed: 8);
        Assert.Equal(a.Draws, b.Draws);
        Assert.NotEqual(a.Draws, c2.Draws);
        double mean = a.Draws.Average();
        Assert.Equal(mean, a.Mean, 12);
        Assert.Equal(Math.Sqrt(a.Draws.Sum(x => (x - mean) * (x - mean)) / 3), a.Std, 12);
        Assert.Equal(before, WeightedLayers.Weights(model).Select(p => p.Weight.data<float>().ToArray()).ToList());
    }

    [Fact]
    public void BadOptions_AreOneLineSurgeonExceptions()
    {
        Assert.Equal("a crossbar tile needs at least 1 row and an even number of columns (a differential pair per output), got 128×127",
            Assert.Throws<SurgeonException>(() => new CrossbarOptions { Columns = 127 }.Validate()).Message);
        Assert.Equal("the conductance range must satisfy 0 ≤ G_min < G_max (finite), got [2, 1]",
            Assert.Throws<SurgeonException>(() => new CrossbarOptions { GMin = 2, GMax = 1 }.Validate()).Message);
        Assert.Equal("a device holds 2^b conductance levels with b in 1..8, got b = 9",
            Assert.Throws<SurgeonException>(() => new CrossbarOptions { LevelBits = 9 }.Validate()).Message);
        var data = TestModels.RandomImages(10, 1, 6, 6, 3);
        using var model = new MLPNet(36, 3, width: 0.5);
        Assert.Equal("the device variation σ must be ≥ 0 and finite, got -0.1",
            Assert.Throws<SurgeonException>(() => CrossbarVariation.Evaluate(model, data, new CrossbarOptions(), -0.1, 2)).Message);
        Assert.Equal("device variation needs at least 1 draw, got 0",
            Assert.Throws<SurgeonException>(() => CrossbarVariation.Evaluate(model, data, new CrossbarOptions(), 0.1, 0)).Message);
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
