using Surgeon.Tests.Reports;

namespace Surgeon.Tests.Cli;

/// <summary>surgeon report layers / sweep as a child process.</summary>
[Collection(CliCheckpointCollection.Name)]
public class ReportCliTests(CliCheckpointFixture fixture)
{
    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Layers_OfAPrunedMlp_PrintsEveryLayerAndTheTotal_AndWritesMarkdownAndCsv()
    {
        string work = fixture.NewWorkFolder(), pruned = Path.Combine(work, "p.ckpt");
        Assert.Equal(0, CliRunner.Run(work, "prune", "-c", fixture.Checkpoint, "-s", "0.9", "-o", pruned, "-q").ExitCode);

        var r = CliRunner.Run(work, "report", "layers", "-c", pruned, "-o", Path.Combine(work, "out"));

        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = Lines(r.Stdout);
        Assert.Equal(2 + 3 + 1, lines.Length);
        Assert.StartsWith("| `fc1` | 40×784 | 31,360 | ", lines[2]);
        Assert.StartsWith("| `fc3` | 10×20 | 200 | ", lines[4]);
        Assert.Equal("| **total** |  | 32,360 | 3,236 | 90.00 % | 32,360 | 3,236 |  |", lines[5]); // MLPNet: one MAC per weight
        Assert.Equal(r.Stdout, File.ReadAllText(Path.Combine(work, "out", "p-layers.md")));
        var csv = Lines(File.ReadAllText(Path.Combine(work, "out", "p-layers.csv")));
        Assert.Equal("total,,32360,3236,0.9,32360,3236,", csv[^1]);

        var asCsv = CliRunner.Run(work, "report", "layers", "-c", pruned, "--format", "csv");
        Assert.Equal(string.Join('\n', csv) + "\n", asCsv.Stdout);
    }

    [Fact]
    public void Sweep_FromAJournal_RebuildsTheTable_AndWritesThePlot()
    {
        string work = fixture.NewWorkFolder(), sweep = Path.Combine(work, "sweep"), outDir = Path.Combine(work, "report");
        Directory.CreateDirectory(sweep);
        File.WriteAllText(Path.Combine(sweep, "points.jsonl"), SweepFiles.Journal());

        var r = CliRunner.Run(work, "report", "sweep", sweep, "-o", outDir, "--title", "MLPNet, one-shot");

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(SweepFiles.JournalTable, Lines(r.Stdout));
        Assert.Contains("left out 1 of 1 earlier sweep(s)", r.Stderr);
        foreach (var name in new[] { "sweep.md", "sweep.csv", "summary.csv", "sweep.json", "sweep.png" })
            Assert.True(File.Exists(Path.Combine(outDir, name)), name);
        Assert.Equal(r.Stdout, File.ReadAllText(Path.Combine(outDir, "sweep.md")));

        // The written sweep.json reads back (with a dense accuracy given this time) and merges with a labelled journal.
        File.WriteAllText(Path.Combine(work, "extra.jsonl"), SweepFiles.SingleMethodJournal("mp", 0.7));
        var merged = CliRunner.Run(work, "report", "sweep", Path.Combine(outDir, "sweep.json"), "other=" + Path.Combine(work, "extra.jsonl"),
            "--dense-accuracy", "0.97");
        Assert.True(merged.ExitCode == 0, merged.Stderr);
        Assert.Equal(
        [
            "| sparsity | mp | wf | mp (other) |",
            "|---|---|---|---|",
            "| dense | 97.00 | 97.00 | 97.00 |",
            "| 0.5 | 85.00 ± 7.07 | 95.00 | 70.00 |",
            "| 0.9 | 50.00 | – | 50.00 |",
        ], Lines(merged.Stdout));
    }
}
