using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// A layer's weight read as the matrix of the ADMM papers: F rows (filters, or a linear layer's output neurons) × D
/// columns (C·k·k for a conv, the inputs for a linear layer), row-major, so a conv's column (c, i, j) is input channel
/// c at kernel position (i, j).
/// </summary>
internal static class WeightMatrix
{
    public static (long Rows, long Columns) Shape(long[] shape, string what, string structure)
    {
        if (shape.Length < 2 || shape.Any(d => d < 1))
            throw new SurgeonException($"{what}: a {structure} projection needs a conv or linear weight (at least 2 dims), got [{string.Join(", ", shape)}]");
        return (shape[0], shape.Skip(1).Aggregate(1L, (a, b) => a * b));
    }

    public static Tensor Of(Tensor weight, string what, string structure)
    {
        var (rows, columns) = Shape(weight.shape, what, structure);
        return weight.detach().reshape(rows, columns);
    }
}
