using System.CommandLine;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Data;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Cli.Commands;

/// <summary>
/// <c>surgeon fisher</c>: the per-sample gradients of a dense checkpoint's empirical Fisher, computed once into a
/// checksummed file that <c>prune</c> and <c>sweep</c> read with <c>--fisher-file</c> instead of recomputing them.
/// </summary>
internal static class FisherCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "The dense checkpoint whose Fisher to compute.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The Fisher file to write.", Required = true };
        var data = CliOptions.Data("Training data of the gradients (default: the checkpoint's dataset).");
        var samples = new Option<int>("--fisher-samples") { Description = "N, the per-sample gradients (rows of G) per seed.", DefaultValueFactory = _ => 1000 };
        var examples = new Option<int>("--examples-per-sample") { Description = "m, the examples averaged into one sample gradient.", DefaultValueFactory = _ => 1 };
        var seeds = new Option<string>("--seeds") { Description = "Comma-separated seeds of the sample draw: one matrix each (a sweep's --seeds).", DefaultValueFactory = _ => "0" };
        var prunable = CliOptions.Prunable();
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var command = new Command("fisher",
            "Compute the per-sample gradients G (N×d, one matrix per seed) of a checkpoint's empirical Fisher once, into a checksummed file " +
            "that prune and sweep read with --fisher-file (the result is identical to computing it in-process); λ and the blocks are applied by the reader.")
        {
            checkpoint, output, data, samples, examples, seeds, prunable, device, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string path = r.GetValue(checkpoint)!, outPath = r.GetValue(output)!;
            int n = r.GetValue(samples), m = r.GetValue(examples);
            var seedList = CliOptions.ParseInts(r.GetValue(seeds)!, "--seeds");
            new PruningOptions { FisherSamples = n, ExamplesPerSample = m }.Validate();
            var prunableSet = PrunableParameters.ParseSet(r.GetValue(prunable)!);
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).ReadsData(CliOptions.DataOf(r.GetValue(data), path)).Writes(outPath, "--out").Check();
            var (model, info) = Checkpoint.Load(path, dev);
            using var _ = model;
            string dataSpec = r.GetValue(data) ?? info.Dataset;
            var (train, test) = DatasetCatalog.Load(dataSpec);
            info.EnsureFits(test);
            var parameters = PrunableParameters.Discover(model, prunableSet);
            EmpiricalFisher.CheckRequest(parameters, train, n, m, 1.0, -1);
            long d = PrunableParameters.TotalCount(parameters);
            var header = new FisherFileHeader(FisherFile.CurrentFormat, info.WeightsSha256, info.Architecture, dataSpec,
                PrunableName(prunableSet), n, m, d, [.. seedList]);
            var gradients = new List<Tensor>();
            try
            {
                foreach (int seed in seedList)
                    gradients.Add(EmpiricalFisher.GradientMatrix(model, parameters, train, n, m, seed, dev, progress));
                FisherFile.Write(outPath, header, gradients);
            }
            finally
            {
                foreach (var g in gradients) g.Dispose();
            }
            Console.WriteLine($"wrote {outPath}: G of {seedList.Count} seed(s) ({string.Join(",", seedList)}), N = {n:N0} × d = {d:N0} weights " +
                $"({new FileInfo(outPath).Length / 1048576.0:N1} MiB); give it to prune or sweep with --fisher-file");
            return 0;
        }));
        return command;
    }

    public static Option<string?> FileOption() => new("--fisher-file")
    {
        Description = "Read the Fisher's per-sample gradients from this file (written by 'surgeon fisher' for the same checkpoint, data, " +
            "--fisher-samples, --examples-per-sample, --prunable and seeds) instead of computing them; the result is identical.",
    };

    public static string PrunableName(PrunableSet set) => set.ToString().ToLowerInvariant();

    /// <summary>
    /// Checks <paramref name="path"/> against the run (one-line errors), reads it (verifying its checksum), and returns
    /// the gradients per seed for <see cref="PruningContext.FisherGradients"/>: each matrix is handed over the first
    /// time its seed asks, and read from the file again should the same seed ask twice.
    /// </summary>
    public static Func<int, Tensor> Open(string path, CheckpointInfo info, string dataSpec, PrunableSet prunable, long d,
        PruningOptions options, IEnumerable<int> seeds)
    {
        var seedList = seeds.ToList();
        FisherFile.Check(FisherFile.ReadHeader(path), path, info.WeightsSha256, dataSpec, PrunableName(prunable), options.FisherSamples,
            options.ExamplesPerSample, d, seedList);
        var loaded = FisherFile.Read(path);
        return seed =>
        {
            if (loaded.Remove(seed, out var g)) return g;
            var again = FisherFile.Read(path);
            foreach (var (other, t) in again) if (other != seed) t.Dispose();
            return again[seed];
        };
    }

    /// <summary>The header check alone (no read of the matrices), for a plan that workers will read the file for.</summary>
    public static void CheckHeader(string path, CheckpointInfo info, string dataSpec, PrunableSet prunable, long d,
        PruningOptions options, IEnumerable<int> seeds) =>
        FisherFile.Check(FisherFile.ReadHeader(path), path, info.WeightsSha256, dataSpec, PrunableName(prunable), options.FisherSamples,
            options.ExamplesPerSample, d, seeds);
}
