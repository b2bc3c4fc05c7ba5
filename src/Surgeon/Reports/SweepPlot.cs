using Surgeon.IO;

namespace Surgeon.Reports;

/// <summary>Accuracy against sparsity, one line per method with ±std error bars (ScottPlot, rendered headless to PNG).</summary>
internal static class SweepPlot
{
    public const string DefaultTitle = "Accuracy vs sparsity";

    public static void Write(string path, SweepReport report, string title = DefaultTitle)
    {
        var plot = Build(report, title);
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 800, 500));
    }

    public static ScottPlot.Plot Build(SweepReport report, string title = DefaultTitle)
    {
        var plot = new ScottPlot.Plot();
        int series = 0;
        foreach (var method in report.Methods)
        {
            var rows = report.Summary.Where(r => r.Method == method).OrderBy(r => r.Sparsity).ToList();
            double[] xs = rows.Select(r => r.Sparsity).ToArray();
            double[] ys = rows.Select(r => 100 * r.AccuracyMean).ToArray();
            var scatter = plot.Add.Scatter(xs, ys, SeriesColors.For(series++));
            scatter.LegendText = method;
            if (rows.Any(r => r.Seeds > 1))
            {
                var bars = plot.Add.ErrorBar(xs, ys, rows.Select(r => 100 * r.AccuracyStd).ToArray());
                bars.Color = scatter.Color;
            }
        }
        if (report.Dense is { } denseResult)
        {
            var dense = plot.Add.HorizontalLine(100 * denseResult.Accuracy);
            dense.LinePattern = ScottPlot.LinePattern.Dashed;
            dense.Color = SeriesColors.Reference;
            dense.LegendText = "dense";
        }
        plot.Title(title);
        plot.XLabel("sparsity");
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend(ScottPlot.Alignment.LowerLeft);
        return plot;
    }
}
