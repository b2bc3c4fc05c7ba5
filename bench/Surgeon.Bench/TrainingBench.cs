using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>MLPNet on the embedded digits: one training step, one evaluation pass, one magnitude prune.</summary>
internal static class TrainingBench
{
    public static void Run()
    {
        var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
        manual_seed(0);
        var model = new MLPNet(784, 10);
        var optimizer = optim.SGD(model.parameters(), 0.01, 0.9);
        int[] idx = Enumerable.Range(0, 128).ToArray();
        var (x, y) = train.Batch(idx);
        double step = Measure.MedianSeconds(() =>
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            nn.functional.cross_entropy(model.forward(x), y).backward();
            optimizer.step();
        });
        double eval = Measure.MedianSeconds(() => Surgeon.Training.Evaluator.Evaluate(model, test), runs: 3);
        var ctx = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model) };
        double prune = Measure.MedianSeconds(() => PruningMethods.Get("mp").Prune(ctx, 0.9).Dispose(), runs: 5);
        Console.WriteLine($"MLPNet train step, batch 128:   {step * 1e3,8:F3} ms  ({128 / step:N0} samples/s)");
        Console.WriteLine($"MLPNet evaluation, 2,000 digits: {eval * 1e3,8:F3} ms");
        Console.WriteLine($"global magnitude prune to 0.9:   {prune * 1e3,8:F3} ms");
        Console.WriteLine($"peak RSS: {Measure.PeakRssMiB():F0} MiB");
    }
}
