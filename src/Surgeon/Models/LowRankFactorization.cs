using Surgeon.Compression;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>How much of each weight a factorisation keeps: a fixed rank, or the smallest rank that holds a fraction
/// of the energy Σσ² (exactly one of the two).</summary>
internal sealed record LowRankTarget(long? Rank, double? Energy)
{
    public void Validate()
    {
        if (Rank is null == Energy is null)
            throw new SurgeonException("give exactly one of --rank and --energy");
        if (Rank is { } r && r < 1)
            throw new SurgeonException($"--rank must be at least 1, got {r}");
        if (Energy is { } e && !(e > 0 && e <= 1))
            throw new SurgeonException($"--energy must be in (0, 1], got {e}");
    }

    public override string ToString() => Rank is { } r ? $"rank {r}" : $"energy {Energy}";
}

/// <summary>One layer of a factorisation: its F×D matrix, the rank chosen, the energy it keeps, and the parameters and
/// multiply-adds per sample of the weight dense (F·D) and factorised (r(F + D), counted with the singular values folded
/// into U). <see cref="Factorized"/> is false where the factors would not be smaller than the matrix.</summary>
internal sealed record FactorizedLayer(string Name, long Rows, long Columns, long Rank, double EnergyKept, bool Factorized,
    long Positions, long DenseWeights, long FactorWeights)
{
    public long DenseFlops => DenseWeights * Positions;
    public long FactorFlops => FactorWeights * Positions;
}

/// <summary>
/// One-shot low-rank compression: every Conv2d and Linear weight (a conv as its F × C·k·k filter matrix) is replaced
/// by its truncated SVD at the target's rank, where r(F + D) &lt; F·D so the factors are smaller; other layers stay
/// dense. The weights keep their dense shape (holding the rank-r product), so every tool that reads a checkpoint
/// reads the factorised model; the compression state records the rank per tensor, and the factors are the product's
/// truncated SVD at that rank (<see cref="LowRankLinear.FromLinear"/>, <see cref="LowRankConv2d.FromConv2d"/>).
/// </summary>
internal static class LowRankFactorization
{
    public static IReadOnlyList<FactorizedLayer> Apply(nn.Module<Tensor, Tensor> model, IReadOnlyList<int> inputShape, LowRankTarget target)
    {
        target.Validate();
        var positions = ModelCost.Measure(model, inputShape).Layers.ToDictionary(l => l.Name, l => l.Positions);
        var layers = new List<FactorizedLayer>();
        using var _ = no_grad();
        foreach (var (name, module) in model.named_modules())
        {
            var weight = module switch
            {
                Conv2d c when c.groups == 1 => c.weight,
                Linear l => l.weight,
                _ => null,
            };
            if (weight is null) continue;
            using var scope = NewDisposeScope();
            var matrix = TruncatedSvd.Matrix(weight);
            long rows = matrix.shape[0], cols = matrix.shape[1], full = Math.Min(rows, cols);
            var singular = TruncatedSvd.SingularValues(matrix);
            long rank = target.Rank is { } r ? Math.Min(r, full) : TruncatedSvd.RankForEnergy(singular, target.Energy!.Value);
            long factorWeights = rank * (rows + cols);
            bool smaller = factorWeights < rows * cols;
            if (smaller)
            {
                using var factors = TruncatedSvd.Factorize(matrix, rank);
                weight.copy_(factors.Product().reshape(weight.shape));
            }
            layers.Add(new FactorizedLayer($"{name}.weight", rows, cols, rank, smaller ? TruncatedSvd.EnergyKept(singular, rank) : 1, smaller,
                positions.GetValueOrDefault(name, 1), rows * cols, smaller ? factorWeights : rows * cols));
        }
        return layers;
    }

    /// <summary>The compression state recording the rank of every factorised weight (added to <paramref name="previous"/>).</summary>
    public static CompressionState Store(CompressionState? previous, IReadOnlyList<FactorizedLayer> layers)
    {
        var state = new CompressionState { Tensors = new(previous?.Tensors ?? []), Quantization = previous?.Quantization };
        foreach (var layer in layers.Where(l => l.Factorized))
        {
            var existing = state.Tensors.GetValueOrDefault(layer.Name) ?? new TensorCompression();
            state.Tensors[layer.Name] = existing with { Factorized = new FactorizedForm((int)layer.Rank, []) };
        }
        return state;
    }
}
