using Surgeon.Training;
using ScottPlot;
using Surgeon.IO;

namespace Surgeon.Reports;

/// <summary>A dynamics quantity that can be plotted against the epoch.</summary>
internal sealed record DynamicsQuantity(string Name, string Label, Func<DynamicsRecord, double> Value)
{
    public static readonly IReadOnlyList<DynamicsQuantity> All =
    [
        new("train_loss", "training loss", r => r.TrainLoss),
        new("test_accuracy", "test accuracy (%)", r => 100 * r.TestAccuracy),
        new("theta_norm_sq", "‖θ‖²", r => r.ThetaNormSquared),
        new("theta_dot_g", "|θ·g|", r => Math.Abs(r.ThetaDotGrad)),
        new("grad_norm_sq", "‖g‖²", r => r.GradNormSquared),
        new("theta_hg", "θ·Hg", r => r.ThetaHessGrad),
        new("parameters", "parameters", r => r.Parameters),
        new("flops", "FLOPs (multiply-accumulates)", r => r.Flops),
    ];

    public static DynamicsQuantity Get(string name) =>
        All.FirstOrDefault(q => q.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new SurgeonException($"unknown dynamics quantity '{name}': known are {string.Join(", ", All.Select(q => q.Name))}");
}

/// <summary>
/// Plots a dynamics quantity against the epoch for several runs (ScottPlot, headless PNG). Runs that share a label
/// (e.g. seeds of one measure) are drawn as their mean with ±std error bars; per epoch the last record with a value is used
/// (an epoch's statistics come before its pruning round's record, which has no loss).
/// </summary>
internal static class DynamicsPlot
{
    public static void Write(string path, IReadOnlyList<(string Label, IReadOnlyList<DynamicsRecord> Records)> runs,
        DynamicsQuantity quantity, string? title = null)
    {
        var plot = Build(runs, quantity, title);
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 800, 500));
    }

    /// <summary>
    /// One figure of the six quantities the gradient-flow analysis reads (training loss, test accuracy, ‖θ‖², |θᵀg|,
    /// ‖g‖², θᵀHg) in a 2×3 grid.
    /// </summary>
    public static void WritePanels(string path, IReadOnlyList<(string Label, IReadOnlyList<DynamicsRecord> Records)> runs)
    {
        string[] names = ["train_loss", "test_accuracy", "theta_norm_sq", "theta_dot_g", "grad_norm_sq", "theta_hg"];
        // A new Multiplot already holds one (empty) plot; start from the first panel instead.
        var multiplot = new ScottPlot.Multiplot(Build(runs, DynamicsQuantity.Get(names[0]), null));
        foreach (var name in names.Skip(1))
            multiplot.AddPlot(Build(runs, DynamicsQuantity.Get(name), null));
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(2, 3);
        AtomicFile.WriteVia(path, temp => multiplot.SavePng(temp, 1500, 800));
    }

    private static bool IsPruningRecord(DynamicsRecord r) => r.Event.StartsWith("pruned", StringComparison.Ordinal);

    internal static ScottPlot.Plot Build(IReadOnlyList<(string Label, IReadOnlyList<DynamicsRecord> Records)> runs,
        DynamicsQuantity quantity, string? title)
    {
        if (runs.Count == 0)
            throw new SurgeonException("nothing to plot: no runs given");
        var plot = new ScottPlot.Plot();
        int series = 0;
        foreach (var group in runs.GroupBy(r => r.Label))
        {
            // One point per epoch (its last finite value), and a second one at the same epoch for the record taken right
            // after a pruning round, so the immediate effect of pruning shows as a vertical step.
            var perEpoch = group
                .SelectMany(run => run.Records.GroupBy(r => (r.Epoch, AfterPruning: IsPruningRecord(r))).Select(e => (e.Key,
                    Value: e.Select(quantity.Value).LastOrDefault(double.IsFinite, double.NaN))))
                .Where(p => double.IsFinite(p.Value))
                .GroupBy(p => p.Key)
                .OrderBy(g => g.Key.Epoch).ThenBy(g => g.Key.AfterPruning)
                .Select(g => (Epoch: (double)g.Key.Epoch, Mean: g.Average(p => p.Value), Std: Std(g.Select(p => p.Value).ToList())))
                .ToList();
            if (perEpoch.Count == 0) continue;
            double[] xs = perEpoch.Select(p => p.Epoch).ToArray();
            double[] ys = perEpoch.Select(p => p.Mean).ToArray();
            var scatter = plot.Add.Scatter(xs, ys, SeriesColors.For(series++));
            scatter.LegendText = group.Key;
            if (group.Count() > 1)
            {
                var bars = plot.Add.ErrorBar(xs, ys, perEpoch.Select(p => p.Std).ToArray());
                bars.Color = scatter.Color;
            }
        }
        plot.Title(title ?? quantity.Label);
        plot.XLabel("epoch");
        plot.YLabel(quantity.Label);
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot;
    }

    private static double Std(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return 0;
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
