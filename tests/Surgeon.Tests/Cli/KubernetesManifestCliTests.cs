using YamlDotNet.RepresentationModel;

namespace Surgeon.Tests.Cli;

/// <summary>
/// sweep --k8s writes an Indexed Job over the plan and a report Job, parsed here as YAML (no cluster is at hand): one
/// completion per point, the index from JOB_COMPLETION_INDEX, the plan's folder on the claim, mounted where the plan's
/// paths lie. The pod's command, run by /bin/sh as the kubelet would with JOB_COMPLETION_INDEX = 2, computes point 2.
/// Missing or bad options are one-line errors with nothing written.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class KubernetesManifestCliTests(CliCheckpointFixture fixture)
{
    private static string Cli => $"dotnet '{Path.Combine(AppContext.BaseDirectory, "Surgeon.Cli.dll")}'";

    private string[] Grid(string outDir, params string[] extra) =>
        ["sweep", "-c", fixture.Checkpoint, "--methods", "mp,lmp", "--sparsities", "0.3,0.9", "--out-dir", outDir, "-q", .. extra];

    private static YamlMappingNode Load(string path)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(path)) yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
            node = step is int i ? ((YamlSequenceNode)node).Children[i] : ((YamlMappingNode)node).Children[new YamlScalarNode((string)step)];
        return node;
    }

    private static string Text(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    [Fact]
    public void TheIndexedJob_RunsOnePointPerCompletion_OnTheSharedClaim()
    {
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid");
        var r = CliRunner.Run(work, Grid(dir, "--k8s", "--k8s-image", "registry.example/surgeon:1", "--k8s-claim", "pruning-runs",
            "--k8s-parallelism", "3", "--k8s-cpus", "2", "--k8s-command", Cli));
        Assert.True(r.ExitCode == 0, r.Stderr);
        var job = Load(Path.Combine(dir, "sweep-job.yaml"));
        Assert.Equal("batch/v1", Text(job, "apiVersion"));
        Assert.Equal("Job", Text(job, "kind"));
        Assert.Equal("Indexed", Text(job, "spec", "completionMode"));
        Assert.Equal("4", Text(job, "spec", "completions"));
        Assert.Equal("3", Text(job, "spec", "parallelism"));
        var pod = At(job, "spec", "template", "spec");
        Assert.Equal("Never", Text(pod, "restartPolicy"));
        var container = At(pod, "containers", 0);
        Assert.Equal("registry.example/surgeon:1", Text(container, "image"));
        Assert.Equal("2", Text(container, "resources", "requests", "cpu"));
        Assert.Equal("2", Text(container, "env", 0, "value"));
        Assert.Matches("^[0-9]+Mi$", Text(container, "resources", "limits", "memory"));
        // The claim is mounted at the folder holding both the checkpoint and the plan (the fixture's root).
        Assert.Equal("pruning-runs", Text(pod, "volumes", 0, "persistentVolumeClaim", "claimName"));
        Assert.Equal(Path.GetFullPath(fixture.Root), Text(container, "volumeMounts", 0, "mountPath"));
        var command = ((YamlSequenceNode)At(container, "command")).Children.Select(c => ((YamlScalarNode)c).Value!).ToList();
        Assert.Equal(["/bin/sh", "-c"], command.Take(2));
        Assert.Contains("--point \"$JOB_COMPLETION_INDEX\"", command[2]);
        var report = Load(Path.Combine(dir, "report-job.yaml"));
        Assert.Contains($"report sweep '{dir}'", Text(At(report, "spec", "template", "spec", "containers", 0), "command", 2));

        // The kubelet's way: the container's command with the index in its environment.
        var psi = new System.Diagnostics.ProcessStartInfo(command[0]) { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = work };
        foreach (string a in command.Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment["JOB_COMPLETION_INDEX"] = "2";
        using (var pod2 = System.Diagnostics.Process.Start(psi)!)
        {
            string err = pod2.StandardError.ReadToEnd();
            pod2.WaitForExit();
            Assert.True(pod2.ExitCode == 0, err);
        }
        var line = Assert.Single(File.ReadAllLines(Path.Combine(dir, "points.jsonl")));
        Assert.Contains("\"sparsity\":0.3", line.Replace(" ", ""));
        Assert.Contains("\"lmp\"", line);
    }

    [Theory]
    [InlineData("--k8s-claim|runs", "--k8s needs --k8s-image")]
    [InlineData("--k8s-image|img", "--k8s needs --k8s-claim")]
    [InlineData("--k8s-image|img|--k8s-claim|Bad_Claim", "is not a PersistentVolumeClaim name")]
    [InlineData("--k8s-image|img|--k8s-claim|runs|--k8s-mount|/nowhere", "is not under the mounted --k8s-mount /nowhere")]
    [InlineData("--k8s-image|img|--k8s-claim|runs|--k8s-parallelism|0", "--k8s-parallelism must be ≥ 1")]
    [InlineData("--k8s-image|img|--k8s-claim|runs|--slurm", "--slurm and --k8s both say where the plan runs")]
    public void BadOptions_AreOneLineErrors_AndWriteNothing(string options, string message)
    {
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid");
        var r = CliRunner.Run(work, Grid(dir, ["--k8s", .. options.Split('|')]));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void AK8sOptionWithoutK8s_IsRefused()
    {
        string work = fixture.NewWorkFolder(), dir = Path.Combine(work, "grid");
        var r = CliRunner.Run(work, Grid(dir, "--k8s-claim", "runs"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--k8s-claim applies to --k8s only", r.Stderr);
        Assert.False(Directory.Exists(dir));
    }
}
