using Surgeon.Compression;
using System.Globalization;
using System.Text;
using Surgeon.Models;
using Surgeon.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Reports;

/// <summary>One Conv2d or Linear layer's weight tensor: its size, how much of it is zero, and what it costs per sample.</summary>
/// <param name="Shape">The weight's shape (out × in for a linear layer, out × in/groups × k × k for a conv); empty in total rows.</param>
/// <param name="Flops">Multiply-accumulates per input sample (see <see cref="ModelCost"/>).</param>
/// <param name="NonzeroFlops">Multiply-accumulates of the nonzero weights (ShrinkBench's count: FLOPs × nonzero fraction).</param>
/// <param name="InPaperSet">Whether the weight is in the papers' prunable set (<see cref="PrunableSet.Paper"/>).</param>
internal sealed record LayerSparsityRow(string Name, long[] Shape, long Weights, long Nonzeros, long Flops, long NonzeroFlops, bool InPaperSet)
{
    public double Sparsity => Weights == 0 ? 0 : 1 - (double)Nonzeros / Weights;
}

/// <summary>
/// Per-layer sparsity of a model, as Markdown or CSV: every Conv2d and Linear weight (the layers pruning may touch;
/// biases and norms are never pruned) with a total row, and a total of the papers' prunable set where that set is
/// smaller than all layers (ResNet).
/// </summary>
internal sealed class LayerSparsityTable
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public IReadOnlyList<LayerSparsityRow> Layers { get; }
    public LayerSparsityRow Total { get; }
    /// <summary>The total of the papers' prunable set; null when that set is every layer.</summary>
    public LayerSparsityRow? PaperTotal { get; }

    public LayerSparsityTable(IReadOnlyList<LayerSparsityRow> layers)
    {
        Layers = layers;
        Total = Sum("total", layers);
        var paper = layers.Where(l => l.InPaperSet).ToList();
        PaperTotal = paper.Count == layers.Count ? null : Sum("total (paper set)", paper);
    }

    /// <summary>Measures <paramref name="model"/> on inputs of <paramref name="inputShape"/> (C×H×W).</summary>
    public static LayerSparsityTable Measure(nn.Module<Tensor, Tensor> model, IReadOnlyList<int> inputShape)
    {
        var cost = ModelCost.Measure(model, inputShape);
        var paper = model as IHasPaperPrunableSet;
        var shapes = new Dictionary<string, long[]>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is Conv2d c) shapes[name] = c.weight!.shape;
            else if (module is Linear l) shapes[name] = l.weight!.shape;
        }
        var rows = cost.Layers.Select(l => new LayerSparsityRow(l.Name, shapes[l.Name], l.Weights, l.NonzeroWeights, l.Flops,
            l.NonzeroFlops, paper?.IsPaperPrunable(l.Name) ?? true)).ToList();
        return new LayerSparsityTable(rows);
    }

    private static LayerSparsityRow Sum(string name, IReadOnlyList<LayerSparsityRow> rows) =>
        new(name, [], rows.Sum(r => r.Weights), rows.Sum(r => r.Nonzeros), rows.Sum(r => r.Flops), rows.Sum(r => r.NonzeroFlops),
            rows.All(r => r.InPaperSet));

    private IEnumerable<LayerSparsityRow> AllRows => PaperTotal is null ? [.. Layers, Total] : [.. Layers, Total, PaperTotal];

    public string ToMarkdown()
    {
        var sb = new StringBuilder("| layer | shape | weights | nonzeros | sparsity | FLOPs | nonzero FLOPs | paper set |\n");
        sb.Append("|---|---|--:|--:|--:|--:|--:|:-:|\n");
        foreach (var r in AllRows)
        {
            bool total = r.Shape.Length == 0;
            string name = total ? $"**{r.Name}**" : $"`{r.Name}`";
            string paper = total ? "" : r.InPaperSet ? "yes" : "no";
            sb.Append(Inv, $"| {name} | {ShapeText(r.Shape)} | {r.Weights:N0} | {r.Nonzeros:N0} | {100 * r.Sparsity:F2} % | {r.Flops:N0} | {r.NonzeroFlops:N0} | {paper} |\n");
        }
        return sb.ToString();
    }

    /// <summary>One row per layer, then the total rows (shape and in_paper_set empty); sparsity as a fraction.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder("layer,shape,weights,nonzeros,sparsity,flops,nonzero_flops,in_paper_set\n");
        foreach (var r in AllRows)
            sb.Append(Inv, $"{r.Name},{string.Join('x', r.Shape)},{r.Weights},{r.Nonzeros},{r.Sparsity:R},{r.Flops},{r.NonzeroFlops},{(r.Shape.Length == 0 ? "" : r.InPaperSet ? "true" : "false")}\n");
        return sb.ToString();
    }

    private static string ShapeText(long[] shape) => string.Join('×', shape);
}
