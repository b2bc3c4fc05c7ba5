using System.Globalization;
using System.Text;
using Surgeon.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Reports;

/// <summary>
/// One layer on the crossbar: its matrix (D inputs on rows × F outputs on column pairs), its weights and those at a
/// nonzero level, the tiles it needs, the tiles pruning leaves empty (which can be left out), and the cells in use
/// (2 per nonzero weight) as a fraction of the cells of all its tiles and of the tiles kept.
/// </summary>
internal sealed record CrossbarLayer(string Name, long Inputs, long Outputs, long Weights, long NonzeroWeights, long Tiles, long EmptyTiles, long CellsPerTile)
{
    public long TilesKept => Tiles - EmptyTiles;
    public long CellsInUse => 2 * NonzeroWeights;
    public double UseOfAllTiles => Tiles == 0 ? 0 : (double)CellsInUse / (Tiles * CellsPerTile);
    public double UseOfKeptTiles => TilesKept == 0 ? 0 : (double)CellsInUse / (TilesKept * CellsPerTile);
}

/// <summary>
/// The crossbar view of a model (<c>surgeon report crossbar</c>): every Conv2d and Linear weight mapped onto
/// R × C tiles (<see cref="CrossbarMapping"/>), per layer and in total, as Markdown or CSV. BatchNorm, biases and the
/// rest of the network are left to digital periphery and not counted.
/// </summary>
internal sealed class CrossbarReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public CrossbarReport(CrossbarOptions options, IReadOnlyList<CrossbarLayer> layers)
    {
        Options = options;
        Layers = layers;
        Total = new CrossbarLayer("total", layers.Sum(l => l.Inputs), layers.Sum(l => l.Outputs), layers.Sum(l => l.Weights),
            layers.Sum(l => l.NonzeroWeights), layers.Sum(l => l.Tiles), layers.Sum(l => l.EmptyTiles), options.Rows * (long)options.Columns);
    }

    public CrossbarOptions Options { get; }
    public IReadOnlyList<CrossbarLayer> Layers { get; }
    public CrossbarLayer Total { get; }

    public static CrossbarReport Measure(nn.Module model, CrossbarOptions options)
    {
        options.Validate();
        var layers = new List<CrossbarLayer>();
        foreach (var (name, weight) in WeightedLayers.Weights(model))
        {
            using var mapping = new CrossbarMapping(weight, options);
            layers.Add(new CrossbarLayer(name[..^".weight".Length], mapping.Inputs, mapping.Outputs, weight.numel(), mapping.NonzeroWeights,
                mapping.Tiles, mapping.EmptyTiles, options.Rows * (long)options.Columns));
        }
        return new CrossbarReport(options, layers);
    }

    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append(Inv, $"Tiles of {Options.Rows}×{Options.Columns} cells ({Options.OutputsPerTile} outputs as differential pairs), " +
            $"{Options.Levels} conductance levels in [{Options.GMin:G3}, {Options.GMax:G3}] S.\n\n");
        sb.Append("| layer | matrix (inputs × outputs) | weights | nonzero | tiles | empty (removable) | tiles kept | cells in use, of all tiles | of kept tiles |\n");
        sb.Append("|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
        foreach (var r in Layers.Append(Total))
        {
            string name = r == Total ? "**total**" : $"`{r.Name}`";
            string matrix = r == Total ? "" : $"{r.Inputs:N0} × {r.Outputs:N0}";
            sb.Append(Inv, $"| {name} | {matrix} | {r.Weights:N0} | {r.NonzeroWeights:N0} | {r.Tiles:N0} | {r.EmptyTiles:N0} | {r.TilesKept:N0} | " +
                $"{100 * r.UseOfAllTiles:F2} % | {100 * r.UseOfKeptTiles:F2} % |\n");
        }
        return sb.ToString();
    }

    public string ToCsv()
    {
        var sb = new StringBuilder("layer,inputs,outputs,weights,nonzero_weights,tiles,empty_tiles,tiles_kept,cells_in_use,use_of_all_tiles,use_of_kept_tiles\n");
        foreach (var r in Layers.Append(Total))
            sb.Append(Inv, $"{r.Name},{(r == Total ? "" : r.Inputs)},{(r == Total ? "" : r.Outputs)},{r.Weights},{r.NonzeroWeights},{r.Tiles},{r.EmptyTiles},{r.TilesKept},{r.CellsInUse},{r.UseOfAllTiles:R},{r.UseOfKeptTiles:R}\n");
        return sb.ToString();
    }
}
