using Surgeon.Data;
using Surgeon.Progress;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

public sealed record EpochStats(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy,
    double TestLoss, double TestAccuracy, double Seconds);

/// <summary>Mini-batch SGD with momentum, weight decay and a per-epoch learning-rate schedule (a whole run).</summary>
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
        using var session = new TrainingSession(options, model, train, device) { AfterStep = AfterStep };
        using var task = progress.Start("training", (double)options.Epochs * session.BatchesPerEpoch);
        for (int epoch = 0; epoch < options.Epochs; epoch++)
        {
            var stats = session.RunEpoch(test, task);
            history.Add(stats);
            task.Description = $"training: epoch {epoch + 1}/{options.Epochs}, loss {stats.TrainLoss:F4}, test acc {stats.TestAccuracy:P2}";
            AfterEpoch?.Invoke(stats);
        }
        model.eval();
        return history;
    }
}
