using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Surgeon.Pruning;

/// <summary>What each task of a Slurm job array over a plan asks for, and how the work is cut into tasks.</summary>
/// <param name="Tasks">Array tasks: equal to the plan's points for one task per point (<c>--point</c>), fewer for
/// shards (<c>--shard I/Tasks</c>).</param>
/// <param name="MemoryMiB">Memory per task (<c>--mem</c>), from the printed estimate.</param>
/// <param name="Time">Slurm's time limit per task (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS).</param>
/// <param name="Extra">More sbatch options, each written as one <c>#SBATCH</c> line (e.g. <c>--account=lab</c>).</param>
internal sealed record SlurmJobOptions(int Tasks, int CpusPerTask, long MemoryMiB, string Time, string? Partition, IReadOnlyList<string> Extra)
{
    /// <summary>Throws a one-line <see cref="SurgeonException"/> naming the option for a value sbatch would refuse
    /// (or that would break the script: a line break in an option).</summary>
    public void Validate(int points)
    {
        if (Tasks < 1 || Tasks > points)
            throw new SurgeonException($"--array-tasks must be 1 to the plan's {points} points (0 = one task per point), got {Tasks}");
        if (CpusPerTask < 1) throw new SurgeonException($"--cpus-per-task must be ≥ 1, got {CpusPerTask}");
        if (MemoryMiB < 1) throw new SurgeonException($"the memory per task must be ≥ 1 MiB, got {MemoryMiB}");
        if (!Regex.IsMatch(Time, @"^(\d+-)?\d+(:\d+){0,2}$"))
            throw new SurgeonException($"--time '{Time}' is not a Slurm time limit (minutes, HH:MM:SS or D-HH:MM:SS)");
        if (Partition is not null && !Regex.IsMatch(Partition, @"^[A-Za-z0-9_.,-]+$"))
            throw new SurgeonException($"--partition '{Partition}' is not a partition name");
        foreach (string option in Extra)
            if (!option.StartsWith('-') || option.Any(char.IsControl))
                throw new SurgeonException($"--sbatch-option '{option.ReplaceLineEndings(" ")}' is not one sbatch option (e.g. --account=lab)");
    }
}

/// <summary>
/// The two sbatch scripts of a planned sweep on Slurm: a job array whose task I runs point I of the plan (or shard
/// I of the array's size), and a report job that the submitter makes depend <c>afterany</c> on the array, so the
/// table is built from whatever finished, failed points included in its list of what is missing. Resubmitting both
/// scripts reruns only what is missing (workers skip finished points).
/// </summary>
internal static class SlurmJob
{
    public const string ArrayScriptName = "sweep.sbatch", ReportScriptName = "report.sbatch", LogFolder = "slurm";

    /// <param name="surgeon">The command that runs surgeon on the nodes, already quoted for the shell.</param>
    public static string ArrayScript(string surgeon, string folder, int points, SlurmJobOptions o)
    {
        string full = Path.GetFullPath(folder);
        var s = Header("surgeon-sweep", full, "%A_%a", o);
        s.Append(Inv($"#SBATCH --array=0-{o.Tasks - 1}\n"));
        s.Append(Inv($"#SBATCH --cpus-per-task={o.CpusPerTask}\n"));
        s.Append(Inv($"#SBATCH --mem={o.MemoryMiB}M\n"));
        s.Append(Inv($"#SBATCH --time={o.Time}\n"));
        foreach (string extra in o.Extra) s.Append($"#SBATCH {extra}\n");
        s.Append(Inv($"# {points} planned points; task I runs {(o.Tasks == points ? "point I" : $"the points whose index is I modulo {o.Tasks}")}.\n"));
        s.Append("# Points another task holds or finished are skipped, so resubmitting this script reruns only what is missing.\n");
        s.Append("set -euo pipefail\n");
        s.Append("export OMP_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
        string part = o.Tasks == points ? "--point \"$SLURM_ARRAY_TASK_ID\"" : Inv($"--shard \"$SLURM_ARRAY_TASK_ID/{o.Tasks}\"");
        s.Append($"exec {surgeon} sweep --out-dir {Quote(full)} {part} --quiet\n");
        return s.ToString();
    }

    /// <summary>The report job: one CPU, builds the table, CSVs and plot into the plan's folder.</summary>
    public static string ReportScript(string surgeon, string folder, SlurmJobOptions o)
    {
        string full = Path.GetFullPath(folder);
        var s = Header("surgeon-sweep-report", full, "%j", o);
        s.Append("#SBATCH --cpus-per-task=1\n#SBATCH --mem=1024M\n#SBATCH --time=00:30:00\n");
        foreach (string extra in o.Extra) s.Append($"#SBATCH {extra}\n");
        s.Append("# Submitted with --dependency=afterany:<array job id>: runs when every task has ended, however it ended.\n");
        s.Append("set -euo pipefail\n");
        s.Append($"exec {surgeon} report sweep {Quote(full)} --out-dir {Quote(full)}\n");
        return s.ToString();
    }

    private static StringBuilder Header(string name, string folder, string logPattern, SlurmJobOptions o)
    {
        var s = new StringBuilder("#!/bin/bash\n");
        s.Append($"# Written by 'surgeon sweep --slurm' for the plan in {folder}\n");
        s.Append($"#SBATCH --job-name={name}\n");
        s.Append($"#SBATCH --output={Path.Combine(folder, LogFolder, name + "-" + logPattern + ".out")}\n");
        if (o.Partition is not null) s.Append($"#SBATCH --partition={o.Partition}\n");
        return s;
    }

    /// <summary>A word for a POSIX shell: single-quoted, with each ' written as '\''.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''") + "'";

    /// <summary>The job id in sbatch --parsable output ("1234" or "1234;cluster").</summary>
    public static string? ParseJobId(string output)
    {
        string id = output.Trim().Split(';')[0];
        return Regex.IsMatch(id, @"^\d+$") ? id : null;
    }

    private static string Inv(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
