using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Column-wise, also called shape-wise (the same entry (c, i, j) of every filter): keep the k columns of the
/// F × C·k·k matrix with the largest ℓ2 norm. For a linear layer a column is one input.
/// </summary>
internal sealed class ColumnProjection : IProjection
{
    public string Name => "columns";

    public long GroupCount(long[] shape, string what) => WeightMatrix.Shape(shape, what, "column-wise").Columns;

    public Tensor KeepMask(Tensor weight, KeepTarget keep, string what)
    {
        long k = keep.GroupsToKeep(GroupCount(weight.shape, what), $"{what} (columns)");
        using var scope = NewDisposeScope();
        var m = WeightMatrix.Of(weight, what, "column-wise");
        var columns = GroupTopK.Keep(m.t(), k);
        return columns.unsqueeze(0).expand(m.shape).reshape(weight.shape).MoveToOuterDisposeScope();
    }
}
