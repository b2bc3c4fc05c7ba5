using Surgeon.Data;
using Surgeon.Progress;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

public sealed record EpochStats(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy,
    double TestLoss, double TestAccuracy, double Seconds);

/// <summary>Mini-batch SGD with momentum, weight decay and a per-epoch learning-rate schedule.</summary>
public sealed class Trainer
{
    private readonly TrainOptions options;
    private readonly Device device;
    private readonly IProgressReporter progress;

    public Trainer(TrainOptions options, Device? device = null, IProgressReporter? progress = null)
    {
        options.Validate();
        this.options = options;
        this.device = device ?? CPU;
        this.progress = progress ?? NullProgress.Instance;
    }

    /// <summary>Called after every optimiser step (e.g. to re-apply pruning masks so pruned weights stay zero).</summary>
    public Action? AfterStep { get; init; }

    /// <summary>Called after every epoch with its statistics.</summary>
    public Action<EpochStats>? AfterEpoch { get; init; }

    public List<EpochStats> Train(nn.Module<Tensor, Tensor> model, ImageDataset train, ImageDataset? test)
    {
        var history = new List<EpochStats>();
        if (options.Epochs == 0) return history;
        var rng = new Random(options.Seed);
        // Its own generator, so turning augmentation on does not change the batch order.
        var augment = options.Augment ? new RandomCropFlip(options.CropPadding, options.HorizontalFlip, options.Seed) : null;
        var order = Enumerable.Range(0, train.Count).ToArray();
        int batches = (train.Count + options.BatchSize - 1) / options.BatchSize;
        using var optimizer = new MomentumSgd(model.parameters(), options.LearningRate, options.Momentum,
            options.WeightDecay, options.Nesterov);
        using var task = progress.Start("training", (double)options.Epochs * batches);
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            double lr = options.RateAt(epoch);
            optimizer.LearningRate = lr;
            rng.Shuffle(order);
            model.train();
            double lossSum = 0;
            long correct = 0;
            for (int b = 0; b < batches; b++)
            {
                int start = b * options.BatchSize, len = Math.Min(options.BatchSize, train.Count - start);
                float lossValue;
                using (var scope = NewDisposeScope())
                {
                    var (x, y) = train.Batch(order.AsSpan(start, len), device, augment);
                    optimizer.ZeroGrad();
                    var logits = model.forward(x);
                    var loss = nn.functional.cross_entropy(logits, y);
                    lossValue = loss.item<float>();
                    if (float.IsNaN(lossValue) || float.IsInfinity(lossValue))
                        throw new SurgeonException($"training diverged at epoch {epoch + 1} (loss {lossValue}); lower --lr");
                    loss.backward();
                    using (no_grad())
                        correct += logits.argmax(1).eq(y).sum().item<long>();
                }
                optimizer.Step();
                AfterStep?.Invoke();
                lossSum += lossValue * len;
                task.Advance();
            }
            var eval = test is null ? new EvalResult(double.NaN, double.NaN, 0) : Evaluator.Evaluate(model, test, device: device);
            var stats = new EpochStats(epoch + 1, lr, lossSum / train.Count, (double)correct / train.Count,
                eval.Loss, eval.Accuracy, clock.Elapsed.TotalSeconds);
            history.Add(stats);
            task.Description = $"training: epoch {epoch + 1}/{options.Epochs}, loss {stats.TrainLoss:F4}, test acc {stats.TestAccuracy:P2}";
            AfterEpoch?.Invoke(stats);
        }
        model.eval();
        return history;
    }
}
