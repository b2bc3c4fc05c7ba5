using System.CommandLine;
using System.Globalization;
using Surgeon.Data;
using Surgeon.IO;
using Surgeon.Reports;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>surgeon report crossbar: a checkpoint's layers on memristor-crossbar tiles, and its accuracy under device variation.</summary>
internal static class CrossbarCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "Checkpoint to map (dense, pruned or quantised: its weights are mapped).", Required = true };
        var rows = new Option<int>("--rows") { Description = "Rows of a tile (inputs).", DefaultValueFactory = _ => 128 };
        var cols = new Option<int>("--cols") { Description = "Columns of a tile (even: each output is a differential pair G⁺ − G⁻).", DefaultValueFactory = _ => 128 };
        var levels = new Option<int>("--levels-bits") { Description = "A device holds 2^b conductance levels, b in 1..8.", DefaultValueFactory = _ => 8 };
        var sigma = new Option<double>("--sigma")
        {
            Description = "Device variation: every conductance times (1 + σ·ε), ε standard normal; 0 skips the simulation.",
            DefaultValueFactory = _ => 0.05,
        };
        var draws = new Option<int>("--draws") { Description = "Noise draws K (draw k seeded with --seed + k); accuracy is reported as mean ± std.", DefaultValueFactory = _ => 10 };
        var testSubset = new Option<int>("--test-subset") { Description = "Evaluate the variation on a class-balanced subset of this many test images (0 = all).", DefaultValueFactory = _ => 0 };
        var data = CliOptions.Data("Test data for the variation (default: the checkpoint's dataset).");
        var seed = CliOptions.Seed("Seed of the first noise draw.");
        var format = new Option<string>("--format", "-f") { Description = "What to print: markdown or csv.", DefaultValueFactory = _ => "markdown", HelpName = "markdown|csv" };
        var outDir = new Option<string?>("--out-dir", "-o") { Description = "Also write <checkpoint>-crossbar.md (table and variation line) and <checkpoint>-crossbar.csv into this folder." };
        var quiet = CliOptions.Quiet();
        var command = new Command("crossbar",
            "The memristor-crossbar view of a checkpoint: each Conv2d/Linear weight as an inputs × outputs matrix (a conv's filters flattened) on R × C tiles, " +
            "signed weights as differential pairs of conductances in [G_min, G_max] with 2^b levels; per layer and in total the tiles needed, the tiles pruning " +
            "leaves empty (removable) and the fraction of cells in use; then the accuracy under multiplicative device variation σ, mean ± std over K draws.")
        {
            checkpoint, rows, cols, levels, sigma, draws, testSubset, data, seed, format, outDir, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string fmt = r.GetValue(format)!.Trim().ToLowerInvariant();
            if (fmt is not ("markdown" or "md" or "csv"))
                throw new SurgeonException($"unknown --format '{r.GetValue(format)}': use markdown or csv");
            var options = new CrossbarOptions { Rows = r.GetValue(rows), Columns = r.GetValue(cols), LevelBits = r.GetValue(levels) };
            options.Validate();
            double s = r.GetValue(sigma);
            int k = r.GetValue(draws);
            if (!(s >= 0) || double.IsInfinity(s))
                throw new SurgeonException($"--sigma must be ≥ 0 and finite, got {s.ToString(CultureInfo.InvariantCulture)}");
            if (k < 1) throw new SurgeonException($"--draws must be at least 1, got {k}");
            int subset = CliOptions.SubsetCount(r.GetValue(testSubset), "--test-subset");
            string path = r.GetValue(checkpoint)!;
            string? folder = r.GetValue(outDir);
            string stem = Path.GetFileNameWithoutExtension(path) + "-crossbar";
            var paths = new RunPaths().ReadsCheckpoint(path);
            if (s > 0) paths.ReadsData(CliOptions.DataOf(r.GetValue(data), path));
            if (folder is not null) paths.WritesFolder(folder, "--out-dir", [stem + ".md", stem + ".csv", FolderLock.FileName]);
            paths.Check();
            var (model, info) = Checkpoint.Load(path);
            using (model)
            {
                var report = CrossbarReport.Measure(model, options);
                string variation = "";
                if (s > 0)
                {
                    var (_, test) = DatasetCatalog.Load(r.GetValue(data) ?? info.Dataset);
                    info.EnsureFits(test);
                    test = Workflows.BalancedSubset(test, subset, "--test-subset");
                    if (!r.GetValue(quiet)) Console.Error.WriteLine($"simulating device variation σ = {s.ToString("G4", CultureInfo.InvariantCulture)}: {k} draws on {test.Count:N0} test images…");
                    var v = CrossbarVariation.Evaluate(model, test, options, s, k, r.GetValue(seed));
                    variation = string.Create(CultureInfo.InvariantCulture,
                        $"\nDevice variation σ = {s:G4} on {test.Name} ({test.Count:N0} images), {k} draws: accuracy {100 * v.Mean:F2} ± {100 * v.Std:F2} % " +
                        $"(mapped without noise {100 * v.Noiseless:F2} %; the checkpoint{(info.Compression?.Quantization is null ? "" : " (quantised)")} {(info.TestAccuracy is { } a ? $"{100 * a:F2} %" : "unknown")}).\n");
                }
                string markdown = report.ToMarkdown() + variation;
                if (folder is not null)
                {
                    using var folderLock = FolderLock.Acquire(folder, "--out-dir");
                    using var files = new AtomicFileSet();
                    files.WriteText(Path.Combine(folder, stem + ".md"), markdown);
                    files.WriteText(Path.Combine(folder, stem + ".csv"), report.ToCsv());
                    files.Commit();
                    Console.Error.WriteLine($"wrote {Path.Combine(folder, stem)}.md and {stem}.csv");
                }
                Console.Write(fmt == "csv" ? report.ToCsv() : markdown);
                if (fmt == "csv" && variation.Length > 0) Console.Error.Write(variation.TrimStart('\n'));
            }
            return 0;
        }));
        return command;
    }
}
