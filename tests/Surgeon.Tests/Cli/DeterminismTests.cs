using System.Security.Cryptography;

namespace Surgeon.Tests.Cli;

/// <summary>The same command with the same --seed, run twice as separate processes, gives bit-identical weights
/// (so identical masks) and prints identical accuracies.</summary>
[Collection(CliCheckpointCollection.Name)]
public class DeterminismTests(CliCheckpointFixture fixture)
{
    public static TheoryData<string, string[]> PruneCommands => new()
    {
        { "cbs", ["-m", "cbs", "-s", "0.7", "--fisher-samples", "100", "--cbs-candidates", "4", "--cbs-loss-samples", "400", "--seed", "3"] },
        { "wf", ["-m", "wf", "-s", "0.8", "--fisher-samples", "150", "--seed", "5"] },
    };

    [Theory]
    [MemberData(nameof(PruneCommands))]
    public void Prune_SameSeed_BitIdenticalCheckpoint_AndAccuracies(string name, string[] options)
    {
        string work = fixture.NewWorkFolder();
        var outputs = new List<(string Sha, string Stdout, string Sidecar)>();
        foreach (string run in new[] { "a", "b" })
        {
            string output = Path.Combine(work, run, $"{name}.ckpt");
            var r = CliRunner.Run(work, ["prune", "-c", fixture.Checkpoint, .. options, "-o", output, "-q"]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            outputs.Add((Sha(output), r.Stdout.Replace(output, "OUT"), Sidecar(output)));
        }
        Assert.Equal(outputs[0].Sha, outputs[1].Sha);
        Assert.Equal(outputs[0].Stdout, outputs[1].Stdout);
        Assert.Equal(outputs[0].Sidecar, outputs[1].Sidecar);
        Assert.Contains("accuracy", outputs[0].Stdout);
    }

    [Fact]
    public void Train_SameSeed_BitIdenticalCheckpoint_DynamicsAndAccuracy()
    {
        string work = fixture.NewWorkFolder();
        var outputs = new List<(string Sha, string Stdout, string Sidecar, string Dynamics)>();
        foreach (string run in new[] { "a", "b" })
        {
            string output = Path.Combine(work, run, "t.ckpt");
            var r = CliRunner.Run(work, "train", "--epochs", "1", "--train-subset", "400", "--dynamics-samples", "64", "--seed", "7",
                "--out", output, "-q");
            Assert.True(r.ExitCode == 0, r.Stderr);
            outputs.Add((Sha(output), r.Stdout.Replace(output, "OUT"), Sidecar(output), File.ReadAllText(output + ".dynamics.csv")));
        }
        Assert.Equal(outputs[0].Sha, outputs[1].Sha);
        Assert.Equal(outputs[0].Stdout, outputs[1].Stdout);
        Assert.Equal(outputs[0].Sidecar, outputs[1].Sidecar);
        Assert.Equal(outputs[0].Dynamics, outputs[1].Dynamics);
    }

    private static string Sha(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>The sidecar without what differs by nature between runs (time, output path).</summary>
    private static string Sidecar(string path)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path + ".json"))!.AsObject();
        node.Remove("createdUtc");
        node["notes"]!.AsObject().Remove("prunedFrom");
        return node.ToJsonString();
    }
}
