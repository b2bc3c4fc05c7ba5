using System.CommandLine;
using System.Globalization;
using Surgeon.Export;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class ExportCommand
{
    public static Command Create()
    {
        var format = new Option<string>("--format", "-f")
        {
            Description = "File format: " + string.Join("; ", ExportFormats.Known.Select(f => $"{f.Name} = {f.Description}")) + ".",
            Required = true,
        };
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "Checkpoint to export (pruned or not).", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "File to write.", Required = true };
        var command = new Command("export", "Export a checkpoint's model to a file other tools read (ONNX for ONNX Runtime, safetensors for PyTorch and Hugging Face, or surgeon's compact sparse file; 'surgeon import' reads the last two back).")
        {
            format, checkpoint, output,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            // Everything that can be checked before loading is: the format, then whether the output can be written.
            var exporter = ExportFormats.Get(r.GetValue(format)!);
            string outPath = r.GetValue(output)!, path = r.GetValue(checkpoint)!;
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).Writes(outPath, "--out").Check();
            var (model, info) = Checkpoint.Load(path);
            using (model)
            {
                var result = exporter.Write(model, info, outPath);
                Console.WriteLine($"{info.Architecture} → {result.Path} ({result.Bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes): {result.Details}");
            }
            return 0;
        }));
        return command;
    }
}
