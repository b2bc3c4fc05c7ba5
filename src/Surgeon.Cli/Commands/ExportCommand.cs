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
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "Checkpoint to export (pruned or not); or give --onnx." };
        var onnx = new Option<string?>("--onnx")
        {
            Description = "An ONNX model to export instead of a checkpoint (e.g. one 'prune --onnx' wrote): safetensors and sparse hold its layer tensors " +
                "(Conv, Gemm/MatMul, BatchNorm) by ONNX initializer name in the file's layout; onnx writes the graph again.",
        };
        var output = new Option<string>("--out", "-o") { Description = "File to write.", Required = true };
        var command = new Command("export", "Export a checkpoint's model (or an ONNX model's weights, with --onnx) to a file other tools read (ONNX for ONNX Runtime, safetensors for PyTorch and Hugging Face, or surgeon's compact sparse file; 'surgeon import' reads the last two back).")
        {
            format, checkpoint, onnx, output,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            // Everything that can be checked before loading is: the format, then whether the output can be written.
            string? onnxPath = r.GetValue(onnx), path = r.GetValue(checkpoint);
            if ((onnxPath is null) == (path is null))
                throw new SurgeonException(onnxPath is null ? "give the model to export: --checkpoint FILE or --onnx FILE" : "give --checkpoint or --onnx, not both");
            if (onnxPath is not null)
                return OnnxRun.Export(onnxPath, r.GetValue(format)!, r.GetValue(output)!);
            var exporter = ExportFormats.Get(r.GetValue(format)!);
            string outPath = r.GetValue(output)!;
            if (path is null) throw new InvalidOperationException("an export without --checkpoint");
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
