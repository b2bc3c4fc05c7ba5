using Surgeon.Data;
using Surgeon.Progress;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>
/// Trains one task: Adam (<see cref="Training.AdamOptimizer"/>) over the given parameters, the options' loss (<see cref="ContinualLoss"/>), mini-batches in a seeded order, with hooks after the
/// backward pass (PackNet masks gradients there) and after each step (restoring what must not move). Evaluates a task's
/// test accuracy.
/// </summary>
internal sealed class ContinualTrainer(ContinualOptions options, IProgressReporter progress)
{
    public ContinualOptions Options => options;

    public void Train(nn.Module<Tensor, Tensor> model, IReadOnlyList<Parameter> parameters, ImageDataset data, int epochs,
        double learningRate, int stream, string what, Action? afterBackward = null, Action? afterStep = null)
    {
        if (epochs == 0) return;
        using var optimizer = new Training.AdamOptimizer(parameters, learningRate);
        var rng = new Random(OrderSeed(options.Seed, stream));
        var order = Enumerable.Range(0, data.Count).ToArray();
        int batches = (data.Count + options.BatchSize - 1) / options.BatchSize;
        using var bar = progress.Start(what, (double)epochs * batches);
        model.train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            rng.Shuffle(order);
            for (int b = 0; b < batches; b++)
            {
                using var scope = NewDisposeScope();
                int start = b * options.BatchSize, count = Math.Min(options.BatchSize, data.Count - start);
                var (x, y) = data.Batch(order.AsSpan(start, count));
                optimizer.ZeroGrad();
                var loss = ContinualLoss.Of(options.Loss, model.call(x), y);
                loss.backward();
                afterBackward?.Invoke();
                optimizer.Step();
                afterStep?.Invoke();
                bar.Advance();
            }
        }
        model.eval();
    }

    /// <summary>
    /// The seed of a training stream's mini-batch order (stream: the task, or 1000 + task for PackNet's retraining).
    /// A plain arithmetic mix, the same in every process: <c>HashCode.Combine</c>, used before, is seeded randomly per
    /// process, so runs with the same <c>--seed</c> differed.
    /// </summary>
    internal static int OrderSeed(int seed, int stream) => unchecked(seed * 1_000_003 + stream);

    /// <summary>Top-1 accuracy of <paramref name="logits"/> (a task's forward) on <paramref name="data"/>.</summary>
    public static double Accuracy(Func<Tensor, Tensor> logits, ImageDataset data)
    {
        using var _ = no_grad();
        long correct = 0;
        var indices = Enumerable.Range(0, data.Count).ToArray();
        for (int start = 0; start < data.Count; start += 1000)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(1000, data.Count - start);
            var (x, y) = data.Batch(indices.AsSpan(start, count));
            correct += logits(x).argmax(1).eq(y).sum().item<long>();
        }
        return (double)correct / data.Count;
    }
}
