using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Crossbar blocks: the F × C·k·k matrix cut into tiles of <see cref="TileRows"/> rows (outputs) × <see cref="TileColumns"/>
/// columns (inputs), from the top left; tiles on the right and bottom edges are smaller when the sides do not divide
/// (a tile larger than the matrix is the whole matrix, one group). Keep the k tiles with the largest Frobenius norm and
/// zero the others whole, so an empty tile needs no crossbar at all (Ma, Yuan et al., arXiv:1908.10017). On a crossbar
/// of R wordlines × C bitlines with signed weights as differential pairs (the crossbar report of the quantisation
/// stage), a tile is R inputs × C/2 outputs: TileRows = C/2, TileColumns = R.
/// </summary>
internal sealed class CrossbarBlockProjection : IProjection
{
    public CrossbarBlockProjection(long tileRows, long tileColumns)
    {
        if (tileRows < 1 || tileColumns < 1)
            throw new SurgeonException($"a crossbar tile needs at least one row and one column, got {tileRows}×{tileColumns}");
        TileRows = tileRows;
        TileColumns = tileColumns;
    }

    public long TileRows { get; }
    public long TileColumns { get; }

    public string Name => $"crossbar:{TileRows}x{TileColumns}";

    public long GroupCount(long[] shape, string what)
    {
        var (rows, columns) = WeightMatrix.Shape(shape, what, "crossbar-block");
        return Ceiling(rows, TileRows) * Ceiling(columns, TileColumns);
    }

    public Tensor KeepMask(Tensor weight, KeepTarget keep, string what)
    {
        long k = keep.GroupsToKeep(GroupCount(weight.shape, what), $"{what} ({Name})");
        using var scope = NewDisposeScope();
        var m = WeightMatrix.Of(weight, what, "crossbar-block");
        long rows = m.shape[0], columns = m.shape[1];
        long tr = Ceiling(rows, TileRows), tc = Ceiling(columns, TileColumns);
        // Zero padding to whole tiles adds nothing to any tile's norm; the padded entries are cut off again below.
        var padded = zeros(tr * TileRows, tc * TileColumns, m.dtype, m.device);
        padded.narrow(0, 0, rows).narrow(1, 0, columns).copy_(m);
        var tiles = padded.view(tr, TileRows, tc, TileColumns).permute(0, 2, 1, 3).reshape(tr * tc, -1);
        var kept = GroupTopK.Keep(tiles, k).view(tr, 1, tc, 1).expand(tr, TileRows, tc, TileColumns).reshape(tr * TileRows, tc * TileColumns);
        return kept.narrow(0, 0, rows).narrow(1, 0, columns).reshape(weight.shape).MoveToOuterDisposeScope();
    }

    private static long Ceiling(long n, long d) => (n + d - 1) / d;
}
