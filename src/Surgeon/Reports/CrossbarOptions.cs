namespace Surgeon.Reports;

/// <summary>
/// A memristor crossbar: tiles of <see cref="Rows"/> × <see cref="Columns"/> cells, each cell a device whose conductance
/// takes one of 2^<see cref="LevelBits"/> evenly spaced levels in [<see cref="GMin"/>, <see cref="GMax"/>] (siemens). A
/// signed weight is a differential pair of cells in adjacent columns (G⁺ − G⁻), so a tile holds Columns / 2 outputs.
/// </summary>
internal sealed record CrossbarOptions
{
    public int Rows { get; init; } = 128;
    public int Columns { get; init; } = 128;
    public double GMin { get; init; } = 1e-6;
    public double GMax { get; init; } = 1e-4;
    public int LevelBits { get; init; } = 8;

    public int Levels => 1 << LevelBits;
    public int OutputsPerTile => Columns / 2;

    /// <summary>ΔG, the conductance step between two levels.</summary>
    public double Step => (GMax - GMin) / (Levels - 1);

    public void Validate()
    {
        if (Rows < 1 || Columns < 2 || Columns % 2 != 0)
            throw new SurgeonException($"a crossbar tile needs at least 1 row and an even number of columns (a differential pair per output), got {Rows}×{Columns}");
        if (!(GMin >= 0) || !(GMax > GMin) || double.IsInfinity(GMax))
            throw new SurgeonException($"the conductance range must satisfy 0 ≤ G_min < G_max (finite), got [{GMin}, {GMax}]");
        if (LevelBits is < 1 or > 8)
            throw new SurgeonException($"a device holds 2^b conductance levels with b in 1..8, got b = {LevelBits}");
    }
}
