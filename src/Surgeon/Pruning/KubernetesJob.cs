using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Surgeon.Pruning;

/// <summary>What a Kubernetes Indexed Job over a plan runs and asks for.</summary>
/// <param name="Image">The container image that has surgeon (e.g. one built from the repository with the tool installed).</param>
/// <param name="Claim">The PersistentVolumeClaim that holds the plan's folder, checkpoint and Fisher file (shared storage
/// that several pods mount read-write: the claims and the journal need POSIX locks, see docs/cluster.md).</param>
/// <param name="MountPath">Where the claim is mounted in every pod: a folder that holds the plan's folder, its
/// checkpoint and its Fisher file at the paths the plan names.</param>
/// <param name="Command">How the image runs surgeon (default <c>surgeon</c>, the dotnet tool).</param>
internal sealed record KubernetesJobOptions(string Image, string Claim, string MountPath, int Parallelism, int Cpus, long MemoryMiB,
    string Command = "surgeon")
{
    /// <summary>Throws a one-line <see cref="SurgeonException"/> naming the option for a value Kubernetes would refuse, or
    /// a plan whose files lie outside the mounted folder.</summary>
    public void Validate(string checkpoint, string? fisherFile, string folder)
    {
        if (string.IsNullOrWhiteSpace(Image) || Image.Any(char.IsWhiteSpace))
            throw new SurgeonException($"--k8s-image '{Image}' is not a container image reference");
        if (!Regex.IsMatch(Claim, @"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))
            throw new SurgeonException($"--k8s-claim '{Claim}' is not a PersistentVolumeClaim name (lower-case letters, digits, '-' and '.')");
        if (Parallelism < 1) throw new SurgeonException($"--k8s-parallelism must be ≥ 1, got {Parallelism}");
        if (Cpus < 1) throw new SurgeonException($"--k8s-cpus must be ≥ 1, got {Cpus}");
        if (Path.TrimEndingDirectorySeparator(Path.GetFullPath(MountPath)) == Path.GetPathRoot(Path.GetFullPath(MountPath)))
            throw new SurgeonException("the volume cannot be mounted at the container's root /: keep the checkpoint and --out-dir under one folder, or give --k8s-mount");
        if (string.IsNullOrWhiteSpace(Command) || Command.Any(char.IsControl))
            throw new SurgeonException($"--k8s-command '{Command}' is not one command");
        foreach (var (what, path) in new[] { ("the plan's folder", folder), ("its checkpoint", checkpoint), ("its Fisher file", fisherFile) })
            if (path is not null && !IsUnder(Path.GetFullPath(path), MountPath))
                throw new SurgeonException($"{what} {Path.GetFullPath(path)} is not under the mounted --k8s-mount {MountPath}; mount a folder that holds the plan's folder, checkpoint and Fisher file");
    }

    private static bool IsUnder(string path, string folder)
    {
        string f = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string prefix = f.EndsWith(Path.DirectorySeparatorChar) ? f : f + Path.DirectorySeparatorChar; // the root is "/"
        return path == f || path.StartsWith(prefix, StringComparison.Ordinal);
    }
}

/// <summary>
/// The Kubernetes manifests of a planned sweep: an Indexed Job (completionMode Indexed, one completion per point of the
/// plan; pod I runs <c>sweep --point $JOB_COMPLETION_INDEX</c>) with the plan's folder on a shared volume, and a report
/// Job to apply when it has finished (<c>kubectl wait --for=condition=complete</c> or failed). Workers skip points that
/// are finished or held, so re-applying the Job (after deleting the old one) reruns only what is missing.
/// Written as YAML by hand: every string is a JSON string, which YAML reads as the same scalar.
/// </summary>
internal static class KubernetesJob
{
    public const string JobFileName = "sweep-job.yaml", ReportFileName = "report-job.yaml";

    /// <summary>The Indexed Job over the plan's <paramref name="points"/> points.</summary>
    public static string SweepJob(string name, string folder, int points, KubernetesJobOptions o)
    {
        string full = Path.GetFullPath(folder);
        var s = Header(name, o);
        s.Append(Inv($"  completionMode: Indexed\n  completions: {points}\n  parallelism: {Math.Min(o.Parallelism, points)}\n"));
        s.Append("  backoffLimitPerIndex: 2\n");
        Pod(s, o, $"exec {o.Command} sweep --out-dir {SlurmJob.Quote(full)} --point \"$JOB_COMPLETION_INDEX\" --quiet",
            o.Cpus, o.MemoryMiB);
        return s.ToString();
    }

    /// <summary>The report Job: builds the table, CSVs and plot from whatever finished.</summary>
    public static string ReportJob(string name, string folder, KubernetesJobOptions o)
    {
        string full = Path.GetFullPath(folder);
        var s = Header(name + "-report", o);
        s.Append("  completions: 1\n  backoffLimit: 1\n");
        Pod(s, o, $"exec {o.Command} report sweep {SlurmJob.Quote(full)} --out-dir {SlurmJob.Quote(full)}", 1, 1024);
        return s.ToString();
    }

    /// <summary>A Job name from the folder's name: DNS-1123, at most 52 characters (room for the pods' suffixes).</summary>
    public static string NameFor(string folder)
    {
        string raw = Regex.Replace(Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder))).ToLowerInvariant(), "[^a-z0-9-]+", "-").Trim('-');
        string name = ("surgeon-" + raw).TrimEnd('-');
        return name.Length <= 52 ? name : name[..52].TrimEnd('-');
    }

    private static StringBuilder Header(string name, KubernetesJobOptions o)
    {
        var s = new StringBuilder("# Written by 'surgeon sweep --k8s'. Apply with: kubectl apply -f <this file>\n");
        s.Append("apiVersion: batch/v1\nkind: Job\nmetadata:\n");
        s.Append($"  name: {Q(name)}\n  labels:\n    app: \"surgeon-sweep\"\nspec:\n");
        return s;
    }

    private static void Pod(StringBuilder s, KubernetesJobOptions o, string script, int cpus, long memoryMiB)
    {
        s.Append("  template:\n    spec:\n      restartPolicy: Never\n      containers:\n");
        s.Append($"        - name: \"surgeon\"\n          image: {Q(o.Image)}\n");
        s.Append($"          command: [\"/bin/sh\", \"-c\", {Q(script)}]\n");
        s.Append(Inv($"          env:\n            - name: \"OMP_NUM_THREADS\"\n              value: \"{cpus}\"\n"));
        s.Append(Inv($"          resources:\n            requests:\n              cpu: \"{cpus}\"\n              memory: \"{memoryMiB}Mi\"\n"));
        s.Append(Inv($"            limits:\n              memory: \"{memoryMiB}Mi\"\n"));
        s.Append($"          volumeMounts:\n            - name: \"runs\"\n              mountPath: {Q(Path.TrimEndingDirectorySeparator(Path.GetFullPath(o.MountPath)))}\n");
        s.Append($"      volumes:\n        - name: \"runs\"\n          persistentVolumeClaim:\n            claimName: {Q(o.Claim)}\n");
    }

    // Relaxed: quotes and apostrophes stay readable (\" and '), which YAML's double-quoted scalars read the same.
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Q(string text) => JsonSerializer.Serialize(text, Relaxed);

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
