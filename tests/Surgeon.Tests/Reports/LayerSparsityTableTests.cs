using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Reports;
using Surgeon.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Reports;

public class LayerSparsityTableTests
{
    /// <summary>
    /// conv 2→3, 3×3, with bias, on 2×5×5 (output 3×3×3 = 27) → flatten → linear 27→4 without bias. Conv: filter 0 all
    /// zero (18 weights) and 5 more zeros in filter 1, so 31 of 54 nonzero; linear: every third of 108 zero, 72 nonzero.
    /// </summary>
    internal static nn.Module<Tensor, Tensor> MaskedConvNet()
    {
        var conv = nn.Conv2d(2, 3, 3);
        var fc = nn.Linear(27, 4, hasBias: false);
        using (no_grad())
        {
            using var convValues = tensor(Enumerable.Range(1, 54).Select(i => 0.01f * i).ToArray()).view(3, 2, 3, 3); // no accidental zeros
            conv.weight!.copy_(convValues);
            conv.weight[0].zero_();
            conv.weight!.view(-1).narrow(0, 18, 5).zero_();
            using var bias = tensor(new float[] { 1, 0, 2 });
            conv.bias!.copy_(bias);
            using var fcValues = tensor(Enumerable.Range(1, 108).Select(i => -0.01f * i).ToArray()).view(4, 27);
            fc.weight!.copy_(fcValues);
            fc.weight!.view(-1).index_fill_(0, arange(0, 108, 3), 0.0);
        }
        return nn.Sequential(("conv", conv), ("flat", nn.Flatten()), ("fc", fc));
    }

    [Fact]
    public void NonzeroFlops_OfAMaskedConvAndLinear_MatchHandCounts()
    {
        var cost = ModelCost.Measure(MaskedConvNet(), [2, 5, 5]);
        var conv = cost.Layers[0];
        Assert.Equal(("conv", 54L, 31L, 9L), (conv.Name, conv.Weights, conv.NonzeroWeights, conv.Positions)); // 5×5, 3×3 kernel → 3×3
        Assert.Equal((54 * 9L, 31 * 9L), (conv.Flops, conv.NonzeroFlops));
        var fc = cost.Layers[1];
        Assert.Equal(("fc", 108L, 72L, 1L, 108L, 72L), (fc.Name, fc.Weights, fc.NonzeroWeights, fc.Positions, fc.Flops, fc.NonzeroFlops));
        Assert.Equal(486 + 108, cost.Flops);
        Assert.Equal(279 + 72, cost.NonzeroFlops);
        Assert.Equal(54 + 3 + 108, cost.Parameters);
        Assert.Equal(31 + 2 + 72, cost.NonzeroParameters); // the bias has one zero
        Assert.Equal(594.0 / 351.0, cost.TheoreticalSpeedup, 12);
    }

    [Fact]
    public void Table_OfAMaskedConvNet_MatchesHandCounts_WithATotalRow()
    {
        var table = LayerSparsityTable.Measure(MaskedConvNet(), [2, 5, 5]);
        Assert.Equal(2, table.Layers.Count);
        Assert.Null(table.PaperTotal); // a plain model: the paper set is every layer
        Assert.Equal(
        [
            "| layer | shape | weights | nonzeros | sparsity | FLOPs | nonzero FLOPs | paper set |",
            "|---|---|--:|--:|--:|--:|--:|:-:|",
            "| `conv` | 3×2×3×3 | 54 | 31 | 42.59 % | 486 | 279 | yes |", // 23/54 zero
            "| `fc` | 4×27 | 108 | 72 | 33.33 % | 108 | 72 | yes |",
            "| **total** |  | 162 | 103 | 36.42 % | 594 | 351 |  |",          // 59/162 zero
        ], table.ToMarkdown().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var csv = table.ToCsv().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("layer,shape,weights,nonzeros,sparsity,flops,nonzero_flops,in_paper_set", csv[0]);
        Assert.Equal($"conv,3x2x3x3,54,31,{1 - 31.0 / 54:R},486,279,true", csv[1]);
        Assert.Equal($"total,,162,103,{1 - 103.0 / 162:R},594,351,", csv[3]);
    }

    [Fact]
    public void ResNet_MarksThePapersSet_AndTotalsItSeparately()
    {
        var model = ConvModels.Create("resnet20", [3, 8, 8], width: 0.25);
        var table = LayerSparsityTable.Measure(model, [3, 8, 8]);
        var paper = PrunableParameters.Discover(model, PrunableSet.Paper);
        Assert.Equal(paper.Select(p => p.Name), table.Layers.Where(l => l.InPaperSet).Select(l => l.Name + ".weight"));
        Assert.Equal(18, paper.Count);
        Assert.Contains(table.Layers, l => !l.InPaperSet && l.Name == "linear");
        Assert.False(table.Layers[0].InPaperSet); // the stem conv
        Assert.NotNull(table.PaperTotal);
        Assert.Equal(PrunableParameters.TotalCount(paper), table.PaperTotal!.Weights);
        Assert.Equal(PrunableParameters.TotalCount(PrunableParameters.Discover(model, PrunableSet.All)), table.Total.Weights);
        Assert.Contains("| **total (paper set)** |", table.ToMarkdown());
    }
}
