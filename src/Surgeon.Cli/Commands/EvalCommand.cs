using Surgeon.Compression;
using System.CommandLine;
using Surgeon.Data;
using Surgeon.Pruning;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Cli.Commands;

internal static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "Checkpoint to evaluate (a quantised one as its quantised model); or give --onnx." };
        var onnx = new Option<string?>("--onnx") { Description = "An ONNX model to evaluate instead of a checkpoint (imported as surgeon prune --onnx does; --data default digits)." };
        var data = CliOptions.Data("Test data (default: the dataset the checkpoint was trained on).");
        var device = CliOptions.Device();
        var command = new Command("eval", "Evaluate a checkpoint: top-1 accuracy and loss on the test split, and its sparsity per layer.")
        {
            checkpoint, onnx, data, device,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string? onnxPath = r.GetValue(onnx);
            if ((onnxPath is null) == (r.GetValue(checkpoint) is null))
                throw new SurgeonException(onnxPath is null ? "give the model to evaluate: --checkpoint FILE or --onnx FILE" : "give --checkpoint or --onnx, not both");
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            if (onnxPath is not null)
                return EvaluateOnnx(onnxPath, r.GetValue(data) ?? DatasetCatalog.Digits, dev);
            string path = r.GetValue(checkpoint)!;
            var (model, info) = Checkpoint.Load(path, dev);
            var (_, test) = DatasetCatalog.Load(r.GetValue(data) ?? info.Dataset);
            info.EnsureFits(test);
            var eval = Evaluator.Evaluate(model, test, device: dev);
            // A quantised checkpoint is evaluated as the quantised model it describes (fake quantisation in float32:
            // folded BatchNorm, weights and activations on their stored grids); its float weights' accuracy follows.
            var plan = Surgeon.Quantization.QuantizedCheckpoint.Plan(model, info.Compression, path);
            var floatEval = eval;
            if (plan is not null)
                using (new Surgeon.Quantization.FakeQuantForward(model, plan))
                    eval = Evaluator.Evaluate(model, test, device: dev);
            var parameters = PrunableParameters.Discover(model);
            using var masks = new MaskSet(parameters, PrunableParameters.Flatten(parameters).ne(Surgeon.Numerics.HeldScalars.Of(0)));
            Workflows.PrintLayerTable(masks);
            // The sparsity a user asked for is a fraction of the set the checkpoint was pruned in (ResNet's paper set is
            // its 18 or 54 inner convs), so that is the headline figure; all layers follow where the sets differ.
            var set = PrunableParameters.ParseSet(info.Notes.GetValueOrDefault("prunable") ?? "paper");
            var inSet = PrunableParameters.Discover(model, set);
            string sparsity = $"sparsity {masks.Sparsity:P2}";
            if (inSet.Count != parameters.Count)
            {
                using var setMasks = new MaskSet(inSet, PrunableParameters.Flatten(inSet).ne(Surgeon.Numerics.HeldScalars.Of(0)));
                sparsity = $"sparsity {setMasks.Sparsity:P2} of the {set.ToString().ToLowerInvariant()} prunable set " +
                    $"({PrunableParameters.TotalCount(inSet):N0} weights), {masks.Sparsity:P2} of every Linear/Conv2d weight";
            }
            Console.WriteLine($"{info.Architecture}{(plan is null ? "" : " (quantised)")} on {test.Name}: accuracy {eval.Accuracy:P2}, loss {eval.Loss:F4} ({eval.Samples} samples), {sparsity}");
            if (plan is not null)
                Console.WriteLine($"quantisation: {plan.Describe()}; the float weights score {floatEval.Accuracy:P2}, loss {floatEval.Loss:F4}");
            if (info.Compression is { } state)
            {
                // What the sidecar stores beside the weights (the mask fine-tuning holds, quantisation, factorised forms).
                var masked = state.Tensors.Where(t => t.Value.Kept is not null).ToList();
                long total = masked.Sum(t => model.state_dict()[t.Key].numel()), kept = masked.Sum(t => t.Value.Kept!.Value);
                Console.WriteLine($"compression state: {masked.Count} masked tensor(s), {total - kept:N0} of {total:N0} entries masked" +
                    $"{(state.Tensors.Values.Any(t => t.Quantization is not null) ? $", {state.Tensors.Values.Count(t => t.Quantization is not null)} quantised" : "")}" +
                    $"{(state.Tensors.Values.Any(t => t.Factorized is not null) ? $", {state.Tensors.Values.Count(t => t.Factorized is not null)} factorised" : "")}");
            }
            return 0;
        }));
        return command;
    }

    private static int EvaluateOnnx(string path, string dataSpec, TorchSharp.torch.Device device)
    {
        new Surgeon.IO.RunPaths().Reads(path, $"the ONNX file {path}").ReadsData(dataSpec).Check();
        var (model, _, test) = OnnxRun.Load(path, dataSpec);
        using (model)
        {
            if (device.type != TorchSharp.DeviceType.CPU) model.to(device);
            var eval = Evaluator.Evaluate(model, test, device: device);
            var parameters = PrunableParameters.Discover(model);
            using var masks = new MaskSet(parameters, PrunableParameters.Flatten(parameters).ne(Surgeon.Numerics.HeldScalars.Of(0)));
            Workflows.PrintLayerTable(masks);
            Console.WriteLine($"{Path.GetFileName(path)} on {test.Name}: accuracy {eval.Accuracy:P2}, loss {eval.Loss:F4} ({eval.Samples} samples), sparsity {masks.Sparsity:P2}");
        }
        return 0;
    }
}
