using Surgeon.Data;
using Surgeon.Progress;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>
/// A training run driven one epoch at a time, so a caller can act between epochs (score and prune, rebuild a smaller
/// model, record dynamics) and swap the model. The batch order and the learning-rate schedule depend only on the seed and
/// the epoch number, so the same run with and without a swap sees the same batches.
/// </summary>
public sealed class TrainingSession : IDisposable
{
    private readonly TrainOptions options;
    private readonly ImageDataset train;
    private readonly Device device;
    private readonly Random rng;
    private readonly int[] order;
    private readonly RandomCropFlip? augment;
    private MomentumSgd optimizer;

    public TrainingSession(TrainOptions options, nn.Module<Tensor, Tensor> model, ImageDataset train, Device? device = null)
    {
        options.Validate();
        this.options = options;
        this.train = train;
        this.device = device ?? CPU;
        Model = model;
        rng = new Random(options.Seed);
        order = Enumerable.Range(0, train.Count).ToArray();
        // Its own generator, so turning augmentation on does not change the batch order.
        augment = options.Augment ? new RandomCropFlip(options.CropPadding, options.HorizontalFlip, options.Seed) : null;
        optimizer = NewOptimizer(model);
    }

    public nn.Module<Tensor, Tensor> Model { get; private set; }
    public int EpochsDone { get; private set; }
    public long Steps { get; private set; }
    public int BatchesPerEpoch => (train.Count + options.BatchSize - 1) / options.BatchSize;

    /// <summary>Called after every optimiser step (e.g. to re-apply pruning masks, or to record dynamics every k steps).</summary>
    public Action? AfterStep { get; set; }

    /// <summary>
    /// Continues with another model (e.g. the smaller one structured pruning built). The optimiser starts afresh: its
    /// momentum buffers belonged to tensors of other shapes.
    /// </summary>
    public void ReplaceModel(nn.Module<Tensor, Tensor> model)
    {
        optimizer.Dispose();
        Model = model;
        optimizer = NewOptimizer(model);
    }

    /// <summary>Trains one epoch (the next one) and evaluates on <paramref name="test"/> if given.</summary>
    public EpochStats RunEpoch(ImageDataset? test, IProgressTask? progress = null)
    {
        if (EpochsDone >= options.Epochs)
            throw new InvalidOperationException($"all {options.Epochs} epochs are done");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int epoch = EpochsDone;
        double lr = options.RateAt(epoch);
        optimizer.LearningRate = lr;
        rng.Shuffle(order);
        Model.train();
        double lossSum = 0;
        long correct = 0;
        for (int b = 0; b < BatchesPerEpoch; b++)
        {
            int start = b * options.BatchSize, len = Math.Min(options.BatchSize, train.Count - start);
            float lossValue;
            using (var scope = NewDisposeScope())
            {
                var (x, y) = train.Batch(order.AsSpan(start, len), device, augment);
                optimizer.ZeroGrad();
                var logits = Model.forward(x);
                var loss = nn.functional.cross_entropy(logits, y);
                lossValue = loss.item<float>();
                if (float.IsNaN(lossValue) || float.IsInfinity(lossValue))
                    throw new SurgeonException($"training diverged at epoch {epoch + 1} (loss {lossValue}); lower --lr");
                loss.backward();
                using (no_grad())
                    correct += logits.argmax(1).eq(y).sum().item<long>();
            }
            optimizer.Step();
            Steps++;
            AfterStep?.Invoke();
            lossSum += lossValue * len;
            progress?.Advance();
        }
        EpochsDone++;
        var eval = test is null ? new EvalResult(double.NaN, double.NaN, 0) : Evaluator.Evaluate(Model, test, device: device);
        return new EpochStats(epoch + 1, lr, lossSum / train.Count, (double)correct / train.Count,
            eval.Loss, eval.Accuracy, clock.Elapsed.TotalSeconds);
    }

    public void Dispose() => optimizer.Dispose();

    private MomentumSgd NewOptimizer(nn.Module<Tensor, Tensor> model) =>
        new(model.parameters(), options.LearningRate, options.Momentum, options.WeightDecay, options.Nesterov);
}
