using System.CommandLine;
using System.Diagnostics;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Cli.Commands;

/// <summary>sweep --slurm: the plan, an sbatch job array over it and a report job after it; --submit hands them to sbatch.</summary>
internal sealed class SlurmOptionSet
{
    private readonly Option<bool> slurm = new("--slurm")
    {
        Description = "Write the plan (as --plan-only) and the sbatch scripts sweep.sbatch (a job array, one task per point or shard) and " +
            "report.sbatch (the table, to run afterany the array) into --out-dir; with --submit, submit both. See docs/cluster.md.",
    };
    private readonly Option<bool> submit = new("--submit") { Description = "With --slurm: submit the array and the report job with sbatch and print their job ids." };
    private readonly Option<int> cpus = new("--cpus-per-task") { Description = "With --slurm: CPUs per array task (its OMP_NUM_THREADS).", DefaultValueFactory = _ => 1 };
    private readonly Option<string> time = new("--time") { Description = "With --slurm: time limit per array task (Slurm's format: minutes, HH:MM:SS, D-HH:MM:SS).", DefaultValueFactory = _ => "01:00:00" };
    private readonly Option<string?> partition = new("--partition") { Description = "With --slurm: the partition to run in (default: the cluster's)." };
    private readonly Option<string[]> extra = new("--sbatch-option")
    {
        Description = "With --slurm: one more sbatch option for both jobs, written as an #SBATCH line (repeat the flag for several), e.g. --sbatch-option=--account=lab.",
        DefaultValueFactory = _ => [],
    };
    private readonly Option<int> tasks = new("--array-tasks")
    {
        Description = "With --slurm: array tasks; 0 = one per point (--point I), fewer = shards (--shard I/N).",
        DefaultValueFactory = _ => 0,
    };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { slurm, submit, cpus, time, partition, extra, tasks }) command.Options.Add(o);
    }

    public bool Wanted(ParseResult r) => r.GetValue(slurm);

    /// <summary>Checks what can be checked before any work: --submit without --slurm, sbatch missing for --submit,
    /// a Slurm option without --slurm.</summary>
    public void CheckEarly(ParseResult r, int points)
    {
        if (!r.GetValue(slurm))
        {
            var stray = new Option[] { submit, cpus, time, partition, extra, tasks }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
            if (stray is not null) throw new SurgeonException($"{stray.Name} applies to --slurm only");
            return;
        }
        if (r.GetValue(submit) && FindOnPath("sbatch") is null)
            throw new SurgeonException("--submit needs sbatch (Slurm's client) on PATH, and it is not there; drop --submit to only write the scripts, or run on a Slurm login node");
        Options(r, points, memoryMiB: 1).Validate(points);
    }

    /// <summary>The names --slurm writes into the folder, besides the plan.</summary>
    public static IReadOnlyList<string> Files => [SlurmJob.ArrayScriptName, SlurmJob.ReportScriptName];

    private SlurmJobOptions Options(ParseResult r, int points, long memoryMiB)
    {
        int t = r.GetValue(tasks);
        return new SlurmJobOptions(t == 0 ? points : t, r.GetValue(cpus), memoryMiB, r.GetValue(time)!.Trim(), r.GetValue(partition),
            r.GetValue(extra) ?? []);
    }

    /// <summary>
    /// Memory per task: the largest curvature estimate over the plan's methods and sparsities, made as a point makes the
    /// one it prints (the method's Fisher work, bookkeeping and loss batch; the kept-set solve at the plan's lowest
    /// sparsity, where it is largest), plus 1 GiB for the runtime, the model and the data.
    /// </summary>
    public static long MemoryMiB(nn.Module<Tensor, Tensor> model, IReadOnlyList<int> sampleShape, IReadOnlyList<PruningMethod> methods,
        PruningOptions options, PrunableSet prunable, IReadOnlyList<double> sparsities)
    {
        var parameters = PrunableParameters.Discover(model, prunable);
        double keptFraction = sparsities.Count == 0 ? 1 : 1 - sparsities.Min();
        long peak = methods.Where(m => m.UsesFisher).Select(m => CurvatureMemory.Estimate(model, parameters, sampleShape, options.FisherSamples,
            options.ExamplesPerSample, EmpiricalFisher.MakeBlocks(parameters, options.BlockSize), m.FisherBookkeepingBytesPerWeight,
            m.LossEvaluationExamples(options), m.FisherWork, keptFraction).Peak).DefaultIfEmpty(0).Max();
        return 1024 + (peak + 1048575) / 1048576;
    }

    /// <summary>Writes the two scripts (and the log folder) and, with --submit, submits them; prints what it did.</summary>
    public void WriteAndSubmit(ParseResult r, SweepPlan plan, string folder, long memoryMiB)
    {
        var o = Options(r, plan.Points.Count, memoryMiB);
        o.Validate(plan.Points.Count);
        string surgeon = SurgeonCommand();
        string arrayScript = Path.Combine(folder, SlurmJob.ArrayScriptName), reportScript = Path.Combine(folder, SlurmJob.ReportScriptName);
        Directory.CreateDirectory(Path.Combine(folder, SlurmJob.LogFolder));
        using (var files = new Surgeon.IO.AtomicFileSet())
        {
            files.WriteText(arrayScript, SlurmJob.ArrayScript(surgeon, folder, plan.Points.Count, o));
            files.WriteText(reportScript, SlurmJob.ReportScript(surgeon, folder, o));
            files.Commit();
        }
        Console.WriteLine($"wrote {arrayScript} ({o.Tasks} array task(s), {o.CpusPerTask} CPU(s) and {o.MemoryMiB:N0} MiB each, time {o.Time}) and {reportScript}");
        if (!r.GetValue(submit))
        {
            Console.WriteLine($"submit with: id=$(sbatch --parsable {arrayScript}) && sbatch --dependency=afterany:$id {reportScript}");
            return;
        }
        string arrayId = Sbatch(arrayScript);
        string reportId = Sbatch($"--dependency=afterany:{arrayId}", reportScript);
        Console.WriteLine($"submitted array job {arrayId} and report job {reportId} (afterany:{arrayId})");
    }

    /// <summary>How the nodes run this surgeon: the apphost, or dotnet with the CLI's assembly.</summary>
    private static string SurgeonCommand()
    {
        string process = Environment.ProcessPath ?? "dotnet";
        if (Path.GetFileNameWithoutExtension(process) != "dotnet") return SlurmJob.Quote(process);
        return $"{SlurmJob.Quote(process)} {SlurmJob.Quote(typeof(Program).Assembly.Location)}";
    }

    private static string Sbatch(params string[] args)
    {
        var psi = new ProcessStartInfo(FindOnPath("sbatch") ?? "sbatch") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("--parsable");
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        string? id = SlurmJob.ParseJobId(stdout.Result);
        if (p.ExitCode != 0 || id is null)
            throw new SurgeonException($"sbatch {string.Join(' ', args)} failed (exit {p.ExitCode}): {(stderr + stdout.Result).ReplaceLineEndings(" ").Trim()}");
        return id;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);
}
