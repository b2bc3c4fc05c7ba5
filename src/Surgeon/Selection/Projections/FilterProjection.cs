using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Filter-wise (Wen et al.'s filter sparsity, ADMM's S_i = {W_i : at most k nonzero filters}): keep the k rows of the
/// F × C·k·k matrix with the largest ℓ2 norm. For a linear layer a row is an output neuron.
/// </summary>
internal sealed class FilterProjection : IProjection
{
    public string Name => "filters";

    public long GroupCount(long[] shape, string what) => WeightMatrix.Shape(shape, what, "filter-wise").Rows;

    public Tensor KeepMask(Tensor weight, KeepTarget keep, string what)
    {
        long k = keep.GroupsToKeep(GroupCount(weight.shape, what), $"{what} (filters)");
        using var scope = NewDisposeScope();
        var m = WeightMatrix.Of(weight, what, "filter-wise");
        var rows = GroupTopK.Keep(m, k);
        return rows.unsqueeze(1).expand(m.shape).reshape(weight.shape).MoveToOuterDisposeScope();
    }
}
