using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Per-layer top-k (Zhang et al. 2018, the cardinality set card(W_i) ≤ l_i): keep the k entries of largest magnitude.
/// Groups are single weights, so any weight shape fits, biases included.
/// </summary>
internal sealed class UnstructuredProjection : IProjection
{
    public string Name => "unstructured";

    public long GroupCount(long[] shape, string what) => shape.Aggregate(1L, (a, b) => a * b) is > 0 and var n
        ? n
        : throw new SurgeonException($"{what}: an unstructured projection needs a non-empty weight, got [{string.Join(", ", shape)}]");

    public Tensor KeepMask(Tensor weight, KeepTarget keep, string what)
    {
        long k = keep.GroupsToKeep(GroupCount(weight.shape, what), $"{what} (unstructured)");
        using var scope = NewDisposeScope();
        return GroupTopK.Keep(weight.detach().reshape(-1, 1), k).reshape(weight.shape).MoveToOuterDisposeScope();
    }
}
