using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Progress;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">The epoch, 1-based.</param>
/// <param name="LearningRate">Its learning rate.</param>
/// <param name="TrainLoss">Mean training loss.</param>
/// <param name="TrainAccuracy">Training accuracy.</param>
/// <param name="TestLoss">Test loss (NaN without test data).</param>
/// <param name="TestAccuracy">Test accuracy (NaN without test data).</param>
/// <param name="Seconds">Wall time of the epoch.</param>
public sealed record EpochStats(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy,
    double TestLoss, double TestAccuracy, double Seconds);

/// <summary>
/// The one training loop: mini-batch SGD with momentum, weight decay and a per-epoch learning-rate schedule, with
/// <see cref="TrainingModifier"/>s hooked in (gradual pruning, pruning while training, fixed masks, the dynamics log,
/// and later ADMM, QAT…). The batch order and the learning-rate schedule depend only on the seed and the epoch number,
/// so the same run with and without a model replacement sees the same batches. Hooks run in the modifiers' order:
/// the ones that change the model first, observers (the dynamics log) last.
/// </summary>
public sealed class TrainingLoop : IDisposable
{
    private readonly Random rng;
    private readonly int[] order;
    private readonly RandomCropFlip? augment;
    private MomentumSgd optimizer;

    /// <summary>A loop training <paramref name="model"/> on <paramref name="train"/> with <paramref name="options"/>.</summary>
    public TrainingLoop(TrainOptions options, nn.Module<Tensor, Tensor> model, ImageDataset train, Device? device = null)
    {
        options.Validate();
        Options = options;
        TrainData = train;
        Device = device ?? CPU;
        Model = model;
        rng = new Random(options.Seed);
        order = Enumerable.Range(0, train.Count).ToArray();
        // Its own generator, so turning augmentation on does not change the batch order.
        augment = options.Augment ? new RandomCropFlip(options.CropPadding, options.HorizontalFlip, options.Seed) : null;
        optimizer = NewOptimizer(model);
    }

    /// <summary>The optimiser's settings.</summary>
    public TrainOptions Options { get; }
    /// <summary>The data trained on.</summary>
    public ImageDataset TrainData { get; }
    /// <summary>Evaluated after every epoch when given.</summary>
    public ImageDataset? TestData { get; init; }
    /// <summary>Device the loop runs on.</summary>
    public Device Device { get; }
    /// <summary>Where progress goes.</summary>
    public IProgressReporter Progress { get; init; } = NullProgress.Instance;
    /// <summary>The modifiers, in the order they run.</summary>
    public IReadOnlyList<TrainingModifier> Modifiers { get; init; } = [];
    /// <summary>Called after every epoch (after the modifiers' <see cref="TrainingModifier.EpochEnd"/>).</summary>
    public Action<EpochStats>? AfterEpoch { get; init; }

    /// <summary>The model trained (a modifier may replace it, see ReplaceModel).</summary>
    public nn.Module<Tensor, Tensor> Model { get; private set; }
    /// <summary>The weight mask the run holds (null: nothing pruned): set by the driver from a checkpoint's compression
    /// state, grown by pruning modifiers, re-applied by them after every optimiser step.</summary>
    public MaskSet? Mask { get; set; }
    /// <summary>Epochs finished.</summary>
    public int EpochsDone { get; private set; }
    /// <summary>Optimiser steps taken.</summary>
    public long Steps { get; private set; }
    /// <summary>Mini-batches per epoch.</summary>
    public int BatchesPerEpoch => (TrainData.Count + Options.BatchSize - 1) / Options.BatchSize;
    /// <summary>Steps of the whole run.</summary>
    public long TotalSteps => (long)Options.Epochs * BatchesPerEpoch;

    /// <summary>Trains <paramref name="model"/> in place for the whole run without modifiers; returns each epoch's statistics.</summary>
    public static List<EpochStats> Train(TrainOptions options, nn.Module<Tensor, Tensor> model, ImageDataset train,
        ImageDataset? test = null, Device? device = null, IProgressReporter? progress = null)
    {
        using var loop = new TrainingLoop(options, model, train, device) { TestData = test, Progress = progress ?? NullProgress.Instance };
        return loop.Run();
    }

    /// <summary>Runs every epoch with the modifiers' hooks; returns each epoch's statistics. The model ends in eval mode
    /// (it may be a new one: see <see cref="ReplaceModel"/>).</summary>
    public List<EpochStats> Run(string description = "training")
    {
        var history = new List<EpochStats>();
        foreach (var m in Modifiers) m.RunStart(this);
        using (var task = Progress.Start(description, (double)TotalSteps))
        {
            while (EpochsDone < Options.Epochs)
            {
                foreach (var m in Modifiers) m.EpochStart(this);
                var stats = RunEpoch(task);
                foreach (var m in Modifiers) m.EpochEnd(this, stats);
                task.Description = $"{description}: epoch {stats.Epoch}/{Options.Epochs}{(Mask is null ? "" : $", sparsity {Mask.Sparsity:P1}")}, loss {stats.TrainLoss:F4}, test acc {stats.TestAccuracy:P2}";
                AfterEpoch?.Invoke(stats);
                history.Add(stats);
            }
        }
        foreach (var m in Modifiers) m.RunEnd(this);
        Model.eval();
        return history;
    }

    /// <summary>
    /// Continues with another model (e.g. the smaller one filter pruning built). The optimiser starts afresh: its
    /// momentum buffers belonged to tensors of other shapes. The modifiers hear of it (to re-wrap layers, say).
    /// </summary>
    public void ReplaceModel(nn.Module<Tensor, Tensor> model)
    {
        var previous = Model;
        optimizer.Dispose();
        Model = model;
        optimizer = NewOptimizer(model);
        foreach (var m in Modifiers) m.ModelReplaced(this, previous);
    }

    /// <summary>Tells every modifier that something happened besides training (e.g. a pruning round), with the test
    /// result of the model right after it when the announcer measured one.</summary>
    public void Announce(string what, EvalResult? test = null)
    {
        foreach (var m in Modifiers) m.Event(this, what, test);
    }

    /// <summary>Trains one epoch (the next one) and evaluates on <see cref="TestData"/> if given.</summary>
    private EpochStats RunEpoch(IProgressTask? progress)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int epoch = EpochsDone;
        double lr = Options.RateAt(epoch);
        optimizer.LearningRate = lr;
        rng.Shuffle(order);
        Model.train();
        double lossSum = 0;
        long correct = 0;
        for (int b = 0; b < BatchesPerEpoch; b++)
        {
            int start = b * Options.BatchSize, len = Math.Min(Options.BatchSize, TrainData.Count - start);
            float lossValue;
            using (var scope = NewDisposeScope())
            {
                var (x, y) = TrainData.Batch(order.AsSpan(start, len), Device, augment);
                optimizer.ZeroGrad();
                var logits = Model.forward(x);
                var loss = nn.functional.cross_entropy(logits, y);
                lossValue = loss.item<float>();
                if (float.IsNaN(lossValue) || float.IsInfinity(lossValue))
                    throw new SurgeonException($"training diverged at epoch {epoch + 1} (loss {lossValue}); lower --lr");
                foreach (var m in Modifiers)
                    if (m.ExtraLoss(this, logits, y) is { } extra)
                        loss = loss.add(extra, Numerics.HeldScalars.One);
                loss.backward();
                using (no_grad())
                    correct += logits.argmax(1).eq(y).sum().item<long>();
            }
            foreach (var m in Modifiers) m.BeforeStep(this);
            optimizer.Step();
            Steps++;
            foreach (var m in Modifiers) m.AfterStep(this);
            lossSum += lossValue * len;
            progress?.Advance();
        }
        EpochsDone++;
        var eval = TestData is null ? new EvalResult(double.NaN, double.NaN, 0) : Evaluator.Evaluate(Model, TestData, device: Device);
        return new EpochStats(epoch + 1, lr, lossSum / TrainData.Count, (double)correct / TrainData.Count,
            eval.Loss, eval.Accuracy, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Releases the optimiser and the loop's tensors.</summary>
    public void Dispose() => optimizer.Dispose();

    private MomentumSgd NewOptimizer(nn.Module<Tensor, Tensor> model) =>
        new(model.parameters(), Options.LearningRate, Options.Momentum, Options.WeightDecay, Options.Nesterov);
}
