using System.CommandLine;
using Surgeon.IO;
using Surgeon.Reports;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>Tables and plots to put in a paper or a pull request, rebuilt from what other commands wrote.</summary>
internal static class ReportCommand
{
    public static Command Create() => new("report", "Tables and plots for a paper or a pull request: per-layer sparsity of a checkpoint, accuracy against sparsity of sweeps, the memristor-crossbar view of a model.")
    {
        Layers(),
        Sweep(),
        CrossbarCommand.Create(),
    };

    private static Command Layers()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "Checkpoint to report (dense, pruned or filter-pruned).", Required = true };
        var format = new Option<string>("--format", "-f") { Description = "What to print: markdown or csv.", DefaultValueFactory = _ => "markdown", HelpName = "markdown|csv" };
        var outDir = new Option<string?>("--out-dir", "-o") { Description = "Also write <checkpoint>-layers.md and <checkpoint>-layers.csv into this folder." };
        var command = new Command("layers",
            "Per-layer sparsity of a checkpoint: every Conv2d and Linear weight with its shape, weights, nonzeros, sparsity, FLOPs and nonzero FLOPs " +
            "per sample, whether it is in the papers' prunable set (--prunable paper), and total rows.")
        {
            checkpoint, format, outDir,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string fmt = r.GetValue(format)!.Trim().ToLowerInvariant();
            if (fmt is not ("markdown" or "md" or "csv"))
                throw new SurgeonException($"unknown --format '{r.GetValue(format)}': use markdown or csv");
            string? folder = r.GetValue(outDir);
            string path = r.GetValue(checkpoint)!;
            string stem = Path.GetFileNameWithoutExtension(path) + "-layers";
            var paths = new RunPaths().ReadsCheckpoint(path);
            if (folder is not null) paths.WritesFolder(folder, "--out-dir", [stem + ".md", stem + ".csv", FolderLock.FileName]);
            paths.Check();
            var (model, info) = Checkpoint.Load(path);
            using (model)
            {
                var table = LayerSparsityTable.Measure(model, info.InputShape);
                if (folder is not null)
                {
                    using var folderLock = FolderLock.Acquire(folder, "--out-dir");
                    using var files = new AtomicFileSet();
                    files.WriteText(Path.Combine(folder, stem + ".md"), table.ToMarkdown());
                    files.WriteText(Path.Combine(folder, stem + ".csv"), table.ToCsv());
                    files.Commit();
                    Console.Error.WriteLine($"wrote {Path.Combine(folder, stem)}.md and {stem}.csv");
                }
                Console.Write(fmt == "csv" ? table.ToCsv() : table.ToMarkdown());
            }
            return 0;
        }));
        return command;
    }

    private static Command Sweep()
    {
        var sources = new Argument<string[]>("sweeps")
        {
            Description = "Sweep folders (written by surgeon sweep), sweep.json or points.jsonl files, optionally LABEL=PATH to append ' (LABEL)' " +
                "to that sweep's method names; several are merged into one table and plot.",
            Arity = ArgumentArity.OneOrMore,
        };
        var outDir = new Option<string?>("--out-dir", "-o") { Description = "Write sweep.md, sweep.csv, summary.csv, sweep.json and sweep.png into this folder (default: print the table only)." };
        var title = new Option<string>("--title") { Description = "Plot title.", DefaultValueFactory = _ => SweepPlot.DefaultTitle };
        var denseAccuracy = new Option<double?>("--dense-accuracy")
        {
            Description = "Dense test accuracy, a fraction in [0, 1], for sweeps read from points.jsonl alone (which does not record it); " +
                "without it the table has no dense row and the plot no dense line.",
        };
        var command = new Command("sweep",
            "Rebuild the accuracy-against-sparsity table (Markdown, CSV) and plot (PNG) of one sweep, or merge several sweeps of the same dense model " +
            "(e.g. methods run separately) into one. A planned sweep (sweep --plan-only) is reported from the points finished so far, and the points " +
            "not finished yet (or running, with the worker's pid and host) are listed.")
        {
            sources, outDir, title, denseAccuracy,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string? folder = r.GetValue(outDir);
            var sourcePaths = r.GetValue(sources)!.Select(SplitLabel).ToList();
            var paths = new RunPaths();
            foreach (var (_, path) in sourcePaths)
            {
                paths.Reads(path, $"the sweep results {path}");
                if (!Directory.Exists(path)) continue;
                // A folder is read through its sweep.json, or its points.jsonl when it has none (an unfinished sweep,
                // whose reports may then be written beside the journal).
                // A planned sweep (--plan-only) is read through its plan and journal, so its report may be rebuilt in place.
                string planFile = Path.Combine(path, Surgeon.Pruning.SweepPlan.FileName);
                string reportFile = Path.Combine(path, SweepResults.ReportFile);
                if (File.Exists(planFile)) paths.Reads(planFile, $"the sweep plan of {path}");
                else if (File.Exists(reportFile)) paths.Reads(reportFile, $"the sweep results {path}");
                paths.Reads(Path.Combine(path, SweepResults.JournalFile), $"the sweep journal of {path}");
            }
            if (folder is not null) paths.WritesFolder(folder, "--out-dir", [.. SweepReport.FileNames, FolderLock.FileName]);
            paths.Check();
            var loaded = sourcePaths.Select(s => (s.Label, Results: SweepResults.Read(s.Path))).ToList();
            if (folder is not null && loaded.Count > 1)
            {
                string target = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
                string? inside = loaded.Select(s => s.Results.Source).FirstOrDefault(s => Path.GetDirectoryName(Path.GetFullPath(s)) == target);
                if (inside is not null)
                    throw new SurgeonException($"--out-dir {folder} holds {Path.GetFileName(inside)}, one of the merged sweeps; the merge would replace its sweep.json, so pick another folder");
            }
            var report = SweepMerge.Merge(loaded, r.GetValue(denseAccuracy));
            // What a reader left out is said once the merge is known to succeed (an error is the one line on stderr).
            foreach (var note in loaded.Select(s => s.Results.Note).OfType<string>())
                Console.Error.WriteLine(note);
            if (folder is not null)
            {
                using var folderLock = FolderLock.Acquire(folder, "--out-dir");
                foreach (var file in report.WriteAll(folder, r.GetValue(title)!))
                    Console.Error.WriteLine($"wrote {file}");
            }
            Console.Write(report.ToMarkdown());
            return 0;
        }));
        return command;
    }

    /// <summary>LABEL=PATH, or a plain PATH (also one that exists and contains '=').</summary>
    private static (string? Label, string Path) SplitLabel(string arg)
    {
        int eq = arg.IndexOf('=');
        if (eq < 0 || File.Exists(arg) || Directory.Exists(arg)) return (null, arg);
        if (eq == 0 || eq == arg.Length - 1)
            throw new SurgeonException($"'{arg}' is not LABEL=PATH (e.g. cbs=runs/sweep-cbs)");
        return (arg[..eq], arg[(eq + 1)..]);
    }
}
