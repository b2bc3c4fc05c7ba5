using Surgeon.Continual;
using Surgeon.IO;

namespace Surgeon.Reports;

/// <summary>
/// Plots of continual runs (ScottPlot, headless PNG): the accuracy matrix of one run as a heatmap (row = after task t,
/// column = task j, with each cell's accuracy written in it; above the diagonal is empty), and the average accuracy
/// over the tasks so far against the number of tasks learnt, one line per run.
/// </summary>
internal static class ContinualPlot
{
    public static void StageMatrix(AtomicFileSet files, string path, ContinualResult result)
    {
        int n = result.Count;
        var plot = new ScottPlot.Plot();
        // Heatmap rows are drawn top to bottom from row 0: row 0 is "after task 1".
        var values = new double[n, n];
        for (int t = 0; t < n; t++)
            for (int j = 0; j < n; j++)
                values[t, j] = j <= t ? 100 * result.Accuracy[t][j] : double.NaN;
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 100);
        plot.Add.ColorBar(heatmap).Label = "test accuracy (%)";
        if (n <= 12)
            for (int t = 0; t < n; t++)
                for (int j = 0; j <= t; j++)
                {
                    var text = plot.Add.Text($"{100 * result.Accuracy[t][j]:F1}", j, n - 1 - t);
                    text.LabelFontSize = 11;
                    text.LabelFontColor = ScottPlot.Colors.White;
                    text.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
                }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, n).Select(j => (double)j).ToArray(), Enumerable.Range(1, n).Select(j => $"{j}").ToArray());
        plot.Axes.Left.SetTicks(Enumerable.Range(0, n).Select(t => (double)(n - 1 - t)).ToArray(), Enumerable.Range(1, n).Select(t => $"{t}").ToArray());
        plot.XLabel("task evaluated");
        plot.YLabel("after learning task");
        plot.Title($"{result.Method} on {result.Sequence} (seed {result.Seed}): accuracy matrix");
        files.WriteVia(path, temp => plot.SavePng(temp, 760, 640));
    }

    public static void StageAverage(AtomicFileSet files, string path, IReadOnlyList<ContinualResult> results)
    {
        if (results.Count == 0) throw new SurgeonException("nothing to plot: no continual runs");
        var plot = new ScottPlot.Plot();
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            double[] xs = Enumerable.Range(1, r.Count).Select(t => (double)t).ToArray();
            double[] ys = Enumerable.Range(0, r.Count).Select(t => 100 * ContinualResult.AverageAccuracy(r.Accuracy, t)).ToArray();
            var line = plot.Add.Scatter(xs, ys, SeriesColors.For(i));
            line.LegendText = $"{r.Method} (seed {r.Seed})";
        }
        plot.XLabel("tasks learnt");
        plot.YLabel("average accuracy over the tasks so far (%)");
        plot.Title($"{results[0].Sequence}: average accuracy");
        plot.ShowLegend();
        files.WriteVia(path, temp => plot.SavePng(temp, 800, 500));
    }
}
