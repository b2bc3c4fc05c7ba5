using System.CommandLine;
using Surgeon.Data;
using Surgeon.Export;
using Surgeon.Models;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class ImportCommand
{
    public static Command Create()
    {
        var format = new Option<string>("--format", "-f")
        {
            Description = "File format: " + string.Join("; ", ImportFormats.Known.Select(f => $"{f.Name} = {f.Description}")) + ".",
            Required = true,
        };
        var input = new Option<string>("--in", "-i") { Description = "File to import.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Checkpoint to write (with its PATH.json sidecar); with --onnx, the ONNX file to write.", Required = true };
        var onnx = new Option<string?>("--onnx")
        {
            Description = "safetensors, sparse: the ONNX model whose weights the file holds (what 'export --onnx m.onnx --format safetensors|sparse' wrote, e.g. " +
                "after prune --onnx): the file's tensors load onto this graph's layers by ONNX initializer name, with the same loaded/missing/unexpected/" +
                "mis-shaped report as a registry import, and --out is the graph written again as ONNX with them, since an imported graph has no " +
                "checkpoint: its ONNX file is the model that eval --onnx, prune --onnx and export --onnx read.",
        };
        var model = new Option<string?>("--model") { Description = $"safetensors, pytorch: the model to load the weights into ({string.Join(", ", ModelRegistry.Names)}); safetensors default: the one described in the file's metadata (files written by 'surgeon export'); a PyTorch state dict needs it." };
        var width = new Option<double?>("--width") { Description = "safetensors, pytorch with --model: width multiplier (default 1)." };
        var channels = new Option<string?>("--channels") { Description = "safetensors, pytorch with --model: channel count per filter group of a filter-pruned model, comma-separated." };
        var data = CliOptions.Data("safetensors, pytorch with --model: the dataset the model is for; gives its input shape and classes (default digits).");
        var allowMissing = new Option<bool>("--allow-missing") { Description = "safetensors, pytorch: tensors the model has but the file lacks keep their initial values (seeded by --seed) instead of being an error." };
        var seed = CliOptions.Seed("safetensors, pytorch: seed of the initial values of tensors the file lacks (with --allow-missing).");
        var command = new Command("import", "Import weights from a sparse, safetensors or PyTorch state-dict file into a checkpoint (weights file + JSON sidecar) that every other command reads; " +
            "with --onnx, load a safetensors or sparse file onto an ONNX graph and write that graph as ONNX.")
        {
            format, input, output, onnx, model, width, channels, data, allowMissing, seed,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            var importer = ImportFormats.Get(r.GetValue(format)!);
            if (r.GetValue(onnx) is { } graph)
            {
                if (new Option[] { model, width, channels, data, seed }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false }) is { } registryOption)
                    throw new SurgeonException($"{registryOption.Name} describes a registry model; with --onnx the graph is the model: drop {registryOption.Name}");
                if (importer.Name == "sparse" && r.GetResult(allowMissing) is { Implicit: false })
                    throw new SurgeonException("--allow-missing does not apply to --format sparse: the file holds every tensor of the graph it was exported from");
                return OnnxRun.Import(graph, importer.Name, r.GetValue(input)!, r.GetValue(output)!, r.GetValue(allowMissing));
            }
            var modelOptions = new Option[] { model, width, channels, data, allowMissing, seed };
            var given = modelOptions.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
            if (!importer.TakesModelOptions && given is not null)
                throw new SurgeonException($"{given.Name} does not apply to --format {importer.Name}: the file carries its model; drop {given.Name}");
            string? modelName = r.GetValue(model);
            var describing = new Option[] { width, channels, data }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });
            if (modelName is null && describing is not null)
                throw new SurgeonException($"{describing.Name} describes the model together with --model; add --model, or drop {describing.Name} to use the file's own description");
            string outPath = r.GetValue(output)!, inPath = r.GetValue(input)!;
            new Surgeon.IO.RunPaths().Reads(inPath, $"the input file {inPath}").ReadsData(modelName is null ? null : r.GetValue(data))
                .WritesCheckpoint(outPath, "--out").Check();

            CheckpointInfo? spec = modelName is null ? null : Spec(modelName, r.GetValue(width) ?? 1.0, r.GetValue(channels), r.GetValue(data) ?? DatasetCatalog.Digits, r.GetValue(seed));
            var result = importer.Read(new ImportRequest(importer.Name, inPath, spec, r.GetValue(allowMissing), r.GetValue(seed)));
            using (result.Model)
                Checkpoint.Save(outPath, result.Model, result.Info);
            foreach (string line in result.Report)
                Console.WriteLine(line);
            Console.WriteLine($"{result.Info.Architecture} → {outPath} (checkpoint, sidecar {Path.GetFileName(Checkpoint.SidecarPath(outPath))})");
            return 0;
        }));
        return command;
    }

    /// <summary>The model named on the command line; the dataset gives its input shape and class count.</summary>
    private static CheckpointInfo Spec(string modelName, double width, string? channels, string dataSpec, int seed)
    {
        if (!ModelRegistry.Names.Contains(modelName, StringComparer.OrdinalIgnoreCase))
            throw new SurgeonException($"unknown model '{modelName}': known models are {string.Join(", ", ModelRegistry.Names)}");
        var (train, _) = DatasetCatalog.Load(dataSpec);
        return new CheckpointInfo
        {
            Architecture = modelName.ToLowerInvariant(),
            InputShape = train.SampleShape,
            NumClasses = train.NumClasses,
            Width = width,
            Channels = channels is null ? null : ParseChannels(channels),
            Dataset = dataSpec,
            Seed = seed,
        };
    }

    // Not CliOptions.ParseInts: filter groups may well have equal channel counts.
    private static int[] ParseChannels(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new SurgeonException("--channels is empty");
        return parts.Select(p => int.TryParse(p, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) && v >= 1
            ? v
            : throw new SurgeonException($"--channels: '{p}' is not a channel count (a whole number ≥ 1)")).ToArray();
    }
}
