using System.CommandLine;
using Surgeon.Models;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = $"Architecture: {string.Join(", ", ModelRegistry.Names)}.", DefaultValueFactory = _ => "mlpnet" };
        var width = new Option<double>("--width") { Description = "Width multiplier of the hidden layers.", DefaultValueFactory = _ => 1.0 };
        var data = CliOptions.Data("Training data: digits (embedded, default), fashion-mnist, cifar10:PATH, cifar100:PATH, or a folder of IDX files.");
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch-size") { Description = "Mini-batch size.", DefaultValueFactory = _ => 64 };
        var lr = new Option<double>("--lr") { Description = "Initial learning rate of SGD.", DefaultValueFactory = _ => 0.05 };
        var momentum = new Option<double>("--momentum") { Description = "SGD momentum.", DefaultValueFactory = _ => 0.9 };
        var wd = new Option<double>("--weight-decay") { Description = "L2 weight decay.", DefaultValueFactory = _ => 1e-4 };
        var schedule = new Option<LrSchedule>("--schedule") { Description = "Learning-rate schedule: Constant, Cosine (to zero) or Step.", DefaultValueFactory = _ => LrSchedule.Cosine };
        var stepEpochs = new Option<int>("--step-epochs") { Description = "Step schedule: epochs between decays.", DefaultValueFactory = _ => 10 };
        var augment = new Option<bool>("--augment") { Description = "Augment training images: random crop with 4 pixels of zero padding and random horizontal flip." };
        var output = new Option<string?>("--out", "-o") { Description = "Checkpoint to write (default runs/<model>-<data>.ckpt); a PATH.json sidecar is written beside it." };
        var seed = CliOptions.Seed();
        var device = CliOptions.Device();
        var quiet = CliOptions.Quiet();
        var command = new Command("train", "Train a model with SGD (momentum, weight decay, LR schedule) and save a checkpoint with its JSON sidecar.")
        {
            model, width, data, epochs, batch, lr, momentum, wd, schedule, stepEpochs, augment, output, seed, device, quiet,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string dataSpec = r.GetValue(data) ?? "digits";
            string modelName = r.GetValue(model)!;
            var options = new TrainOptions
            {
                Epochs = r.GetValue(epochs),
                BatchSize = r.GetValue(batch),
                LearningRate = r.GetValue(lr),
                Momentum = r.GetValue(momentum),
                WeightDecay = r.GetValue(wd),
                Schedule = r.GetValue(schedule),
                StepEpochs = r.GetValue(stepEpochs),
                Seed = r.GetValue(seed),
                Augment = r.GetValue(augment),
            };
            options.Validate();
            ModelRegistry.Describe(modelName);
            if (!ModelRegistry.Names.Contains(modelName, StringComparer.OrdinalIgnoreCase))
                throw new SurgeonException($"unknown model '{modelName}': known models are {string.Join(", ", ModelRegistry.Names)}");
            string outPath = r.GetValue(output) ?? Workflows.DefaultRunsPath($"{modelName}-{SafeName(dataSpec)}.ckpt");
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            var progress = new ConsoleProgress(r.GetValue(quiet));
            var (_, info) = Workflows.TrainAndSave(modelName, r.GetValue(width), dataSpec, options, outPath, dev, progress);
            Console.WriteLine($"test accuracy {info.TestAccuracy:P2}, loss {info.TestLoss:F4}; checkpoint {outPath}");
            return 0;
        }));
        return command;
    }

    public static string SafeName(string dataSpec) =>
        new string(Path.GetFileName(dataSpec.TrimEnd('/')).Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_').ToArray());
}
