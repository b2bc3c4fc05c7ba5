using Surgeon.Data;
using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>Accuracy and loss over a dataset.</summary>
/// <param name="Accuracy">Top-1 accuracy, a fraction.</param>
/// <param name="Loss">Mean cross-entropy.</param>
/// <param name="Samples">Samples evaluated.</param>
public sealed record EvalResult(double Accuracy, double Loss, int Samples);

/// <summary>Top-1 accuracy and mean cross-entropy over a dataset (eval mode, no gradients).</summary>
internal static class Evaluator
{
    /// <summary>Examples per forward pass unless the caller says otherwise.</summary>
    public const int DefaultBatchSize = 500;

    public static EvalResult Evaluate(nn.Module<Tensor, Tensor> model, ImageDataset data, int batchSize = DefaultBatchSize,
        Device? device = null, IReadOnlyList<int>? indices = null)
    {
        int n = indices?.Count ?? data.Count;
        if (n == 0) throw new SurgeonException($"cannot evaluate on an empty dataset ({data.Name})");
        bool wasTraining = model.training;
        model.eval();
        double lossSum = 0;
        long correct = 0;
        var all = indices?.ToArray() ?? Enumerable.Range(0, data.Count).ToArray();
        using (no_grad())
        {
            for (int start = 0; start < n; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int len = Math.Min(batchSize, n - start);
                var (x, y) = data.Batch(all.AsSpan(start, len), device);
                // The same convolution path training uses (oneDNN off). Switching oneDNN on for evaluation inside a
                // process that trained with it off gave wrong logits (NaN loss, chance accuracy) after training LeNet-5
                // with 2 threads, on weights a fresh process evaluates right: it is not trusted here any more.
                var logits = EvalForward.Logits(model, x);
                lossSum += nn.functional.cross_entropy(logits!, y, reduction: nn.Reduction.Sum).item<float>();
                correct += logits!.argmax(1).eq(y).sum().item<long>();
            }
        }
        if (wasTraining) model.train();
        return new EvalResult((double)correct / n, lossSum / n, n);
    }
}
