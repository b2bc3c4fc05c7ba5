using System.CommandLine;
using System.Globalization;
using Surgeon.Data;
using Surgeon.Quantization;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>surgeon quantize: post-training quantisation of a checkpoint into a quantised checkpoint.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "Checkpoint to quantise (dense or pruned; pruned weights stay exact zeros); or give --onnx." };
        var onnx = new Option<string?>("--onnx")
        {
            Description = "An ONNX model to quantise instead of a checkpoint (imported as prune --onnx does; e.g. the file prune --onnx wrote; --data default digits): " +
                "writes a QDQ ONNX file (int8 weight codes → DequantizeLinear under each weight's original name, BatchNorm folded into the conv it follows) " +
                "for ONNX Runtime, not a checkpoint, as prune --onnx writes ONNX.",
        };
        var bits = new Option<int>("--bits", "-b") { Description = "Weight bits, 2 to 8 (uniform grid, zero exactly representable).", Required = true };
        var perChannel = new Option<bool>("--per-channel") { Description = "One scale per output channel (filter or row) instead of one per tensor." };
        var asymmetric = new Option<bool>("--asymmetric") { Description = "Asymmetric weight grids (a zero point per scale) instead of symmetric ones." };
        var scale = new Option<string>("--scale")
        {
            Description = "How each weight scale is chosen: minmax (the range, nothing clips) or mse (the clipping range of least squared error).",
            DefaultValueFactory = _ => "mse",
            HelpName = "minmax|mse",
        };
        var activations = new Option<int>("--activations")
        {
            Description = "Activation bits (the input of every Conv2d and Linear, asymmetric, calibrated on training samples); 0 keeps activations in float.",
            DefaultValueFactory = _ => 0,
        };
        var calibrate = new Option<int>("--calibrate") { Description = "Training samples the activation ranges are calibrated on.", DefaultValueFactory = _ => 1000 };
        var observer = new Option<string>("--observer")
        {
            Description = "Activation range estimate: minmax, percentile (--percentile p and its mirror) or mse.",
            DefaultValueFactory = _ => "minmax",
            HelpName = "minmax|percentile|mse",
        };
        var percentile = new Option<double>("--percentile") { Description = "p of --observer percentile, in [90, 100].", DefaultValueFactory = _ => 99.99 };
        var output = new Option<string?>("--out", "-o") { Description = "Quantised checkpoint (with --onnx: QDQ ONNX file) to write (default: beside the input, named after the bits)." };
        var data = CliOptions.Data("Data to calibrate on and evaluate with (default: the checkpoint's dataset).");
        var seed = CliOptions.Seed("Seed of the calibration subset.");
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var command = new Command("quantize",
            "Post-training quantisation: folds BatchNorm where exact, puts every Conv2d/Linear weight on a b-bit grid (biases stay float32) and, " +
            "with --activations, each layer's input on a grid calibrated on training samples; prints the float and the quantised accuracy " +
            "(simulated in float32) and writes a quantised checkpoint: its float weights plus the grids, which eval, export and report read. " +
            "With --onnx (a model from another tool, or one prune --onnx wrote) it writes the quantised graph as QDQ ONNX instead.")
        {
            checkpoint, onnx, bits, perChannel, asymmetric, scale, activations, calibrate, observer, percentile, output, data, seed, device, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string? onnxPath = r.GetValue(onnx), path = r.GetValue(checkpoint);
            if ((onnxPath is null) == (path is null))
                throw new SurgeonException(onnxPath is null ? "give the model to quantise: --checkpoint FILE or --onnx FILE" : "give --checkpoint or --onnx, not both");
            var weights = new WeightQuantizationSettings
            {
                Bits = r.GetValue(bits),
                PerChannel = r.GetValue(perChannel),
                Symmetric = !r.GetValue(asymmetric),
                Scale = QuantizationNames.Scale(r.GetValue(scale)!),
            };
            weights.Validate();
            int activationBits = r.GetValue(activations);
            ActivationQuantizationSettings? acts = null;
            if (activationBits != 0)
            {
                acts = new ActivationQuantizationSettings
                {
                    Bits = activationBits,
                    Observer = QuantizationNames.Observer(r.GetValue(observer)!),
                    Percentile = r.GetValue(percentile),
                    CalibrationSamples = r.GetValue(calibrate),
                    Seed = r.GetValue(seed),
                };
                acts.Validate();
                if (acts.Observer == ObserverKind.MovingAverage)
                    throw new SurgeonException("--observer ema is what quantisation-aware training tracks; calibrate with minmax, percentile or mse");
            }
            else if (new Option[] { calibrate, observer, percentile }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false }) is { } unused)
            {
                throw new SurgeonException($"{unused.Name} applies to activation quantisation only; add --activations 8");
            }
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            if (onnxPath is not null && acts is { Bits: not 8 })
                throw new SurgeonException($"a QDQ ONNX file holds activations as int8: with --onnx give --activations 8 (or 0 for float activations), not {acts.Bits}");
            if (onnxPath is not null)
                return OnnxRun.Quantize(onnxPath, r.GetValue(output), r.GetValue(data) ?? DatasetCatalog.Digits, weights, acts, dev, progress);
            if (path is null) throw new InvalidOperationException("a quantisation without --checkpoint");
            string outPath = r.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(path) ?? ".",
                $"{Path.GetFileNameWithoutExtension(path)}-w{weights.Bits}{(acts is null ? "" : $"a{acts.Bits}")}.ckpt");
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).ReadsData(CliOptions.DataOf(r.GetValue(data), path))
                .WritesCheckpoint(outPath, "--out").Check();
            var (model, info) = Checkpoint.Load(path, dev);
            using (model)
            {
                QuantizedCheckpoint.RequireSameSettings(info.Compression, weights, acts, path);
                string dataSpec = r.GetValue(data) ?? info.Dataset;
                var (train, test) = DatasetCatalog.Load(dataSpec);
                Workflows.EnsureDataFits(info, test);
                var before = Evaluator.Evaluate(model, test, device: dev);
                var plan = PostTrainingQuantization.Quantize(model, weights, acts, train, progress);
                Surgeon.Compression.CompressionState state = QuantizedCheckpoint.Store(info.Compression, plan);
                // The stored grids are what eval reads back: evaluate that (not the in-memory plan), so the printed and
                // stored accuracy is the checkpoint's.
                var reloaded = QuantizedCheckpoint.Plan(model, state, outPath)!;
                Surgeon.Training.EvalResult after;
                using (new FakeQuantForward(model, reloaded))
                    after = Evaluator.Evaluate(model, test, device: dev);
                if (!double.IsFinite(after.Loss))
                    throw new SurgeonException($"the quantised model's outputs overflow float32 (test loss {after.Loss.ToString(CultureInfo.InvariantCulture)}); nothing was written");
                var c = CultureInfo.InvariantCulture;
                Checkpoint.Save(outPath, model, info with
                {
                    TestAccuracy = after.Accuracy,
                    TestLoss = after.Loss,
                    Compression = state,
                    Dataset = dataSpec,
                    Notes = new(info.Notes)
                    {
                        ["quantizedFrom"] = Path.GetFullPath(path),
                        ["floatAccuracy"] = before.Accuracy.ToString("R", c),
                        ["floatLoss"] = before.Loss.ToString("R", c),
                        ["quantization"] = plan.Describe(),
                    },
                });
                Console.WriteLine($"{plan.Describe()}");
                Console.WriteLine($"accuracy float {before.Accuracy:P2} → quantised {after.Accuracy:P2} ({(after.Accuracy - before.Accuracy) * 100:+0.00;-0.00;0.00} points), " +
                    $"loss {before.Loss:F4} → {after.Loss:F4}; wrote {outPath}");
            }
            return 0;
        }));
        return command;
    }
}
