using System.Text.Json;

namespace Surgeon.Tests.Cli;

/// <summary>surgeon continual end to end on a tiny sequence: the files it writes and what they hold; bad input is one
/// line, exit 2, nothing written.</summary>
[Collection(CliCheckpointCollection.Name)]
public class ContinualCliTests(CliCheckpointFixture fixture)
{
    [Theory]
    [InlineData("rank-update")]
    [InlineData("packnet")]
    public void Continual_WritesTheMatrixSummaryAndPlots(string method)
    {
        string work = fixture.NewWorkFolder(), output = Path.Combine(work, "out");
        var r = CliRunner.Run(work, "continual", "--method", method, "--tasks", "split-digits", "--task-count", "2", "--hidden", "16",
            "--epochs", "1", "--train-subset", "100", "--test-subset", "50", "--out", output, "-q");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"{method} on split-digits (2 tasks, seed 0)", r.Stdout);
        foreach (var file in new[] { "accuracy.csv", "summary.csv", "result.json", "accuracy.png", "average.png" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        var lines = File.ReadAllLines(Path.Combine(output, "accuracy.csv"));
        Assert.Equal("after_task,task_1,task_2", lines[0]);
        Assert.Equal(3, lines.Length);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json")));
        var a = json.RootElement.GetProperty("accuracy");
        // Neither method can forget: task 1's accuracy after task 2 is its accuracy after task 1.
        Assert.Equal(a[0][0].GetDouble(), a[1][0].GetDouble());
    }

    /// <summary>Two processes given the same <c>--seed</c> write the same accuracy matrix: the mini-batch order derives
    /// from the seed and the task alone. (It once came from <c>HashCode.Combine</c>, which .NET seeds randomly per
    /// process, so two runs differed.) Each run is a separate CLI process.</summary>
    [Fact]
    public void SameSeed_TwoProcesses_SameMatrix()
    {
        string work = fixture.NewWorkFolder();
        string Matrix(string name)
        {
            string output = Path.Combine(work, name);
            var r = CliRunner.Run(work, "continual", "--method", "finetune", "--tasks", "permuted-digits", "--task-count", "2",
                "--hidden", "16", "--epochs", "2", "--lr", "0.01", "--train-subset", "300", "--test-subset", "500", "--seed", "3",
                "--out", output, "-q");
            Assert.True(r.ExitCode == 0, r.Stderr);
            return File.ReadAllText(Path.Combine(output, "accuracy.csv"));
        }
        Assert.Equal(Matrix("first"), Matrix("second"));
    }

    [Theory]
    [InlineData("--rank-first applies to --method rank-update only", "--method", "finetune", "--tasks", "split-digits", "--rank-first", "4")]
    [InlineData("--prune-fraction applies to --method packnet only", "--method", "rank-update", "--tasks", "split-digits", "--prune-fraction", "0.3")]
    [InlineData("unknown task sequence", "--method", "finetune", "--tasks", "rotated-digits")]
    [InlineData("unknown --method", "--method", "ewc", "--tasks", "split-digits")]
    [InlineData("--prune-fraction must be in (0, 1)", "--method", "packnet", "--tasks", "split-digits", "--prune-fraction", "1")]
    [InlineData("unknown", "--method", "packnet", "--tasks", "split-digits", "--prune-method", "nosuch")]
    [InlineData("unknown --loss 'hinge'", "--method", "rank-update", "--tasks", "split-digits", "--loss", "hinge")]
    [InlineData("unknown --pixels 'scaled'", "--method", "rank-update", "--tasks", "split-digits", "--pixels", "scaled")]
    public void BadInput_OneLineExit2_NothingWritten(string message, params string[] args)
    {
        string work = fixture.NewWorkFolder();
        var before = CliCheckpointFixture.Snapshot(work);
        var r = CliRunner.Run(work, ["continual", .. args, "--out", Path.Combine(work, "out"), "-q"]);
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(message, lines[0]);
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
    }
}
