using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Reports;

/// <summary>
/// One layer's weight on a crossbar. The weight is read as a matrix of F outputs × D inputs (a conv's filter
/// [C/groups, k, k] flattened: D = C/groups·k·k); on the crossbar the D inputs drive the rows and each output is a pair
/// of columns. Per layer, w_max = max|w| and Δw = w_max / (L − 1) with L = 2^b levels: weight w gets level
/// k = round(|w| / Δw) (half to even) on the cell of its sign, G = G_min + k·ΔG, the other cell of the pair stays at
/// G_min, and the pair reads back as w' = (G⁺ − G⁻) / ΔG · Δw.
/// </summary>
internal sealed class CrossbarMapping : IDisposable
{
    private readonly CrossbarOptions options;

    public CrossbarMapping(Tensor weight, CrossbarOptions options)
    {
        options.Validate();
        this.options = options;
        if (weight.dim() < 2)
            throw new ArgumentException($"a crossbar layer's weight has an output dimension and inputs, got [{string.Join(", ", weight.shape)}]");
        Outputs = weight.shape[0];
        Inputs = weight.numel() / Outputs;
        using var scope = NewDisposeScope();
        var w = weight.detach().to(ScalarType.Float64).cpu().reshape(Outputs, Inputs);
        double max = w.abs().max().item<double>();
        WeightStep = max == 0 ? 1 : max / (options.Levels - 1);
        Levels = w.abs().div(HeldScalars.Of(WeightStep)).round().clamp(HeldScalars.Of(0), HeldScalars.Of(options.Levels - 1))
            .mul(w.sign()).to(ScalarType.Int32).DetachFromDisposeScope();
    }

    public void Dispose() => Levels.Dispose();

    /// <summary>F, the outputs (a pair of columns each).</summary>
    public long Outputs { get; }

    /// <summary>D, the inputs (a row each).</summary>
    public long Inputs { get; }

    /// <summary>Δw, the weight a level stands for.</summary>
    public double WeightStep { get; }

    /// <summary>The signed level of each weight, [F, D]: ±k, 0 where both cells are at G_min.</summary>
    public Tensor Levels { get; }

    public long RowTiles => (Inputs + options.Rows - 1) / options.Rows;
    public long ColumnTiles => (Outputs + options.OutputsPerTile - 1) / options.OutputsPerTile;
    public long Tiles => RowTiles * ColumnTiles;

    /// <summary>Weights at a nonzero level; each uses both cells of its pair.</summary>
    public long NonzeroWeights => Levels.count_nonzero().item<long>();

    /// <summary>Tiles whose every weight is at level 0 (pruned, or rounded to 0): they can be left out.</summary>
    public long EmptyTiles => EmptyTileMask().sum().item<long>();

    /// <summary>[ColumnTiles, RowTiles], true where a tile holds no nonzero level.</summary>
    public Tensor EmptyTileMask()
    {
        using var scope = NewDisposeScope();
        long outputs = ColumnTiles * options.OutputsPerTile, inputs = RowTiles * options.Rows;
        var padded = zeros(outputs, inputs, ScalarType.Int32);
        padded.narrow(0, 0, Outputs).narrow(1, 0, Inputs).copy_(Levels.abs());
        var perTile = padded.reshape(ColumnTiles, options.OutputsPerTile, RowTiles, options.Rows).amax([1, 3]);
        return perTile.eq(HeldScalars.Of(0)).MoveToOuterDisposeScope();
    }

    /// <summary>(G⁺, G⁻), each [F, D], in siemens.</summary>
    public (Tensor Positive, Tensor Negative) Conductances()
    {
        using var scope = NewDisposeScope();
        var level = Levels.to(ScalarType.Float64);
        var gPos = level.clamp_min(HeldScalars.Of(0)).mul(HeldScalars.Of(options.Step)).add(HeldScalars.Of(options.GMin), HeldScalars.One);
        var gNeg = level.neg().clamp_min(HeldScalars.Of(0)).mul(HeldScalars.Of(options.Step)).add(HeldScalars.Of(options.GMin), HeldScalars.One);
        return (gPos.MoveToOuterDisposeScope(), gNeg.MoveToOuterDisposeScope());
    }

    /// <summary>The weights the pairs read back as, (G⁺ − G⁻) / ΔG · Δw, shaped like <paramref name="like"/>.</summary>
    public Tensor ReadBack(Tensor positive, Tensor negative, Tensor like)
    {
        using var scope = NewDisposeScope();
        var w = positive.add(negative, HeldScalars.Of(-1)).mul(HeldScalars.Of(WeightStep / options.Step));
        return w.reshape(like.shape).to(like.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Conductances with device variation: G' = max(0, G·(1 + σ·ε)), ε standard normal per cell from
    /// <paramref name="generator"/>; the cells of empty tiles are not built, so their pairs read 0.
    /// </summary>
    public (Tensor Positive, Tensor Negative) Perturbed(double sigma, Generator generator)
    {
        using var scope = NewDisposeScope();
        var (gPos, gNeg) = Conductances();
        var noisyPos = Perturb(gPos, sigma, randn(gPos.shape, ScalarType.Float64, generator: generator));
        var noisyNeg = Perturb(gNeg, sigma, randn(gNeg.shape, ScalarType.Float64, generator: generator));
        var built = BuiltCells();
        return (noisyPos.mul(built).MoveToOuterDisposeScope(), noisyNeg.mul(built).MoveToOuterDisposeScope());
    }

    /// <summary>G·(1 + σ·ε), clamped at 0 (a conductance cannot be negative).</summary>
    public static Tensor Perturb(Tensor g, double sigma, Tensor epsilon) =>
        g.mul(epsilon.mul(HeldScalars.Of(sigma)).add(HeldScalars.One, HeldScalars.One)).clamp_min(HeldScalars.Of(0));

    /// <summary>[F, D], 1 where the weight's tile is built (not empty), 0 where the tile is left out.</summary>
    private Tensor BuiltCells()
    {
        using var scope = NewDisposeScope();
        var built = EmptyTileMask().logical_not().to(ScalarType.Float64);
        var perOutput = built.repeat_interleave(options.OutputsPerTile, dim: 0).narrow(0, 0, Outputs);
        return perOutput.repeat_interleave(options.Rows, dim: 1).narrow(1, 0, Inputs).MoveToOuterDisposeScope();
    }
}
