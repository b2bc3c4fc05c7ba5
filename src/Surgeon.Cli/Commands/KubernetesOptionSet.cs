using System.CommandLine;
using Surgeon.Pruning;

namespace Surgeon.Cli.Commands;

/// <summary>sweep --k8s: the plan and a Kubernetes Indexed Job over it (plus a report Job), written for kubectl apply.</summary>
internal sealed class KubernetesOptionSet
{
    private readonly Option<bool> k8s = new("--k8s")
    {
        Description = "Write the plan (as --plan-only) and the Kubernetes manifests sweep-job.yaml (an Indexed Job, one completion per " +
            "point, the plan's folder on a shared PersistentVolumeClaim) and report-job.yaml into --out-dir. See docs/cluster.md.",
    };
    private readonly Option<string?> image = new("--k8s-image") { Description = "With --k8s: the container image that runs surgeon (required)." };
    private readonly Option<string?> claim = new("--k8s-claim") { Description = "With --k8s: the PersistentVolumeClaim holding the plan's folder, checkpoint and Fisher file, mounted read-write by every pod (required)." };
    private readonly Option<string?> mount = new("--k8s-mount") { Description = "With --k8s: where the claim is mounted in the pods, a folder holding the plan's folder, checkpoint and Fisher file at the same paths as here (default: the checkpoint's and --out-dir's common parent folder)." };
    private readonly Option<int> parallelism = new("--k8s-parallelism") { Description = "With --k8s: pods running at once.", DefaultValueFactory = _ => 4 };
    private readonly Option<int> cpus = new("--k8s-cpus") { Description = "With --k8s: CPUs each pod requests (its OMP_NUM_THREADS).", DefaultValueFactory = _ => 1 };
    private readonly Option<string> command = new("--k8s-command") { Description = "With --k8s: how the image runs surgeon.", DefaultValueFactory = _ => "surgeon" };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { k8s, image, claim, mount, parallelism, cpus, command }) c.Options.Add(o);
    }

    public bool Wanted(ParseResult r) => r.GetValue(k8s);

    /// <summary>The names --k8s writes into the folder, besides the plan.</summary>
    public static IReadOnlyList<string> Files => [KubernetesJob.JobFileName, KubernetesJob.ReportFileName];

    /// <summary>Before any work: a --k8s-* option without --k8s, --k8s without its image or claim.</summary>
    public void CheckEarly(ParseResult r)
    {
        if (!r.GetValue(k8s))
        {
            var stray = new Option[] { image, claim, mount, parallelism, cpus, command }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
            if (stray is not null) throw new SurgeonException($"{stray.Name} applies to --k8s only");
            return;
        }
        if (r.GetValue(image) is null) throw new SurgeonException("--k8s needs --k8s-image, the container image that runs surgeon");
        if (r.GetValue(claim) is null) throw new SurgeonException("--k8s needs --k8s-claim, the PersistentVolumeClaim that holds the plan's folder");
    }

    /// <summary>The options for a plan in <paramref name="folder"/> of checkpoint <paramref name="checkpoint"/>; validated.</summary>
    public KubernetesJobOptions Options(ParseResult r, string checkpoint, string folder, long memoryMiB)
    {
        string mountPath = r.GetValue(mount) is { } m ? Path.GetFullPath(m) : CommonParent(Path.GetFullPath(checkpoint), Path.GetFullPath(folder));
        return new KubernetesJobOptions(r.GetValue(image)!.Trim(), r.GetValue(claim)!.Trim(), mountPath, r.GetValue(parallelism), r.GetValue(cpus),
            memoryMiB, r.GetValue(command)!.Trim());
    }

    /// <summary>Writes the two manifests (whole or not at all) and prints how to apply them.</summary>
    public static void Write(SweepPlan plan, string folder, KubernetesJobOptions o)
    {
        o.Validate(plan.Checkpoint, plan.FisherFile, folder);
        string name = KubernetesJob.NameFor(folder);
        string job = Path.Combine(folder, KubernetesJob.JobFileName), report = Path.Combine(folder, KubernetesJob.ReportFileName);
        using (var files = new Surgeon.IO.AtomicFileSet())
        {
            files.WriteText(job, KubernetesJob.SweepJob(name, folder, plan.Points.Count, o));
            files.WriteText(report, KubernetesJob.ReportJob(name, folder, o));
            files.Commit();
        }
        Console.WriteLine($"wrote {job} (Indexed Job '{name}', {plan.Points.Count} completions, {Math.Min(o.Parallelism, plan.Points.Count)} at once, " +
            $"{o.Cpus} CPU(s) and {o.MemoryMiB:N0} MiB each, claim {o.Claim} at {o.MountPath}) and {report}");
        Console.WriteLine($"run with: kubectl apply -f {job} && kubectl wait --for=condition=complete --timeout=24h job/{name}; kubectl apply -f {report}");
    }

    private static string CommonParent(string a, string b)
    {
        var x = a.Split('/');
        var y = b.Split('/');
        int n = 0;
        while (n < Math.Min(x.Length, y.Length) - 1 && x[n] == y[n]) n++;
        string common = string.Join('/', x.Take(n));
        return common.Length == 0 ? "/" : common;
    }
}
