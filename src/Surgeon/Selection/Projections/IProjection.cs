using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Π_S, the Euclidean projection of one layer's weight onto a sparsity set S: the Z-step Z_i = Π_{S_i}(W_i + U_i) of
/// ADMM pruning (Zhang et al., ECCV 2018, arXiv:1804.03294, eq. 7), and the hard-prune mask at the end. Every set here
/// is "at most k groups of a partition of the weight's entries are nonzero" (the partition is the structure: single
/// weights, filter rows, columns, input channels, crossbar tiles), and the nearest point of such a set keeps the k
/// groups with the largest squared ℓ2 (Frobenius) norm and zeroes the rest: for a kept set T the distance is
/// Σ_{g∉T} ‖W_g‖², smallest when the dropped groups are the smallest. Ties go to the lower group index.
/// </summary>
internal interface IProjection
{
    /// <summary>The structure's name as recipes spell it ("filters", "crossbar:32x64"…).</summary>
    string Name { get; }

    /// <summary>How many groups the structure cuts a weight of this shape into (checks that the structure fits it).</summary>
    long GroupCount(long[] shape, string what);

    /// <summary>
    /// The support of Π_S(<paramref name="weight"/>): a bool tensor shaped like the weight, true on the kept groups.
    /// <paramref name="what"/> names the layer in errors (one line, <see cref="SurgeonException"/>).
    /// </summary>
    Tensor KeepMask(Tensor weight, KeepTarget keep, string what);
}

internal static class ProjectionExtensions
{
    /// <summary>Π_S(<paramref name="weight"/>): the weight with every group outside the kept ones set to 0 (a new tensor).</summary>
    public static Tensor Project(this IProjection projection, Tensor weight, KeepTarget keep, string what)
    {
        using var scope = NewDisposeScope();
        var mask = projection.KeepMask(weight, keep, what);
        return weight.detach().mul(mask.to_type(weight.dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>The distance ‖W − Π_S(W)‖₂ (float64), e.g. to watch ‖W − Z‖ fall over ADMM rounds.</summary>
    public static double Distance(Tensor weight, Tensor projected)
    {
        using var scope = NewDisposeScope();
        var d = weight.detach().to_type(ScalarType.Float64).add(projected.detach().to_type(ScalarType.Float64).neg(), HeldScalars.One);
        return d.Squared().sum().sqrt().item<double>();
    }
}
