namespace Surgeon.Reports;

/// <summary>
/// Line colours for plots with several series. Assigned by series index rather than left to ScottPlot, whose automatic
/// colouring also hands a palette entry to every error-bar plottable, so that with error bars the colours repeat after
/// five series (two methods drawn in the same colour).
/// </summary>
internal static class SeriesColors
{
    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    public static ScottPlot.Color For(int series) => Palette.GetColor(series);

    /// <summary>The reference line (dense accuracy): not one of the series' colours.</summary>
    public static ScottPlot.Color Reference => ScottPlot.Colors.Black;
}
