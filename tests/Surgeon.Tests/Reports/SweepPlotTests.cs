using Surgeon.Pruning;
using Surgeon.Reports;
using Surgeon.Training;

namespace Surgeon.Tests.Reports;

public class SweepPlotTests
{
    [Fact]
    public void SixMethodsWithErrorBars_GetSixDistinctColours_AndTheDenseLineNoneOfThem()
    {
        string[] methods = ["mp", "wf-s", "wf", "cbs-s", "cbs", "mp+cbs-u"];
        var points = (from m in methods
                      from s in new[] { 0.5, 0.9 }
                      from seed in new[] { 0, 1 }
                      select new SweepPoint(m, s, seed, s, 0.5 + 0.01 * seed, 1.0, 0.1)).ToList();
        var report = new SweepReport(new EvalResult(0.9, 0.3, 100), points, new Dictionary<string, string>());
        var plot = SweepPlot.Build(report);
        var lines = plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().ToList();
        Assert.Equal(methods, lines.Select(l => l.LegendText));
        var colours = lines.Select(l => l.Color).ToList();
        Assert.Equal(methods.Length, colours.Distinct().Count());
        var dense = plot.GetPlottables().OfType<ScottPlot.Plottables.HorizontalLine>().Single();
        Assert.DoesNotContain(dense.Color, colours);
    }
}
