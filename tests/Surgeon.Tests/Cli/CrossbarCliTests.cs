namespace Surgeon.Tests.Cli;

/// <summary>
/// surgeon report crossbar end to end: the tile counts of MLPNet (784 → 40 → 20 → 10) on 64 × 32 tiles by hand, the
/// variation line and its files; bad options are one line, exit 2, nothing written.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class CrossbarCliTests(CliCheckpointFixture fixture)
{
    [Fact]
    public void TheTable_CountsTilesAsByHand_AndTheVariationLineIsWritten()
    {
        string work = fixture.NewWorkFolder(), outDir = Path.Combine(work, "cb");
        var r = CliRunner.Run(work, "report", "crossbar", "-c", fixture.Checkpoint, "--rows", "64", "--cols", "32", "--sigma", "0.1",
            "--draws", "2", "--test-subset", "200", "-o", outDir, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        // A tile holds 64 inputs × 16 outputs: fc1 ⌈784/64⌉·⌈40/16⌉ = 13·3 = 39, fc2 1·⌈20/16⌉ = 2, fc3 1·1 = 1.
        Assert.Contains("| `fc1` | 784 × 40 | 31,360 |", r.Stdout);
        Assert.Matches(@"\| `fc1` \| 784 × 40 \| 31,360 \| [\d,]+ \| 39 \|", r.Stdout);
        Assert.Matches(@"\| `fc2` \| 40 × 20 \| 800 \| [\d,]+ \| 2 \|", r.Stdout);
        Assert.Matches(@"\| \*\*total\*\* \|  \| 32,360 \| [\d,]+ \| 42 \| 0 \| 42 \|", r.Stdout);
        Assert.Matches(@"Device variation σ = 0\.1 on .*\(200 images\), 2 draws: accuracy \d+\.\d\d ± \d+\.\d\d %", r.Stdout);
        string md = File.ReadAllText(Path.Combine(outDir, "m-crossbar.md"));
        Assert.Equal(r.Stdout, md);
        var csv = File.ReadAllLines(Path.Combine(outDir, "m-crossbar.csv"));
        Assert.StartsWith("total,,,32360,", csv[^1]);
        Assert.Contains(",42,0,42,", csv[^1]);

        // σ = 0: no simulation (and no data read), the table alone.
        r = CliRunner.Run(work, "report", "crossbar", "-c", fixture.Checkpoint, "--sigma", "0");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.DoesNotContain("Device variation", r.Stdout);
        // Default 128 × 128 tiles hold 128 inputs × 64 outputs: fc1 ⌈784/128⌉ = 7, fc2 1, fc3 1.
        Assert.Matches(@"\| \*\*total\*\* \|  \| 32,360 \| [\d,]+ \| 9 \| 0 \| 9 \|", r.Stdout);
    }

    public static TheoryData<string, string[]> BadCases => new()
    {
        { "a crossbar tile needs at least 1 row and an even number of columns", ["--rows", "0"] },
        { "a crossbar tile needs at least 1 row and an even number of columns", ["--cols", "33"] },
        { "2^b conductance levels with b in 1..8, got b = 9", ["--levels-bits", "9"] },
        { "--sigma must be ≥ 0 and finite, got -0.1", ["--sigma", "-0.1"] },
        { "--sigma must be ≥ 0 and finite, got NaN", ["--sigma", "NaN"] },
        { "--draws must be at least 1, got 0", ["--draws", "0"] },
        { "unknown --format 'pdf'", ["--format", "pdf"] },
    };

    [Theory]
    [MemberData(nameof(BadCases))]
    public void BadOptions_AreOneLineErrors_NothingWritten(string message, string[] options)
    {
        string work = fixture.NewWorkFolder();
        var before = CliCheckpointFixture.Snapshot(work);
        var r = CliRunner.Run(work, ["report", "crossbar", "-c", fixture.Checkpoint, .. options, "-o", Path.Combine(work, "out")]);
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(message, lines[0]);
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
    }
}
