namespace Surgeon.Training;

/// <summary>How the learning rate changes over a run.</summary>
public enum LrSchedule
{
    /// <summary>The same rate throughout.</summary>
    Constant,
    /// <summary>Cosine annealing to zero.</summary>
    Cosine,
    /// <summary>Multiplied by StepGamma every StepEpochs epochs.</summary>
    Step,
}

/// <summary>SGD with momentum and weight decay, mini-batches, a learning-rate schedule, optional augmentation and a seed.</summary>
public sealed record TrainOptions
{
    /// <summary>Epochs to train.</summary>
    public int Epochs { get; init; } = 20;
    /// <summary>Samples per mini-batch.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 0.05;
    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;
    /// <summary>L2 weight decay.</summary>
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary>Nesterov momentum.</summary>
    public bool Nesterov { get; init; }
    /// <summary>How the learning rate changes over the run.</summary>
    public LrSchedule Schedule { get; init; } = LrSchedule.Cosine;
    /// <summary>For <see cref="LrSchedule.Step"/>: multiply the rate by <see cref="StepGamma"/> every this many epochs.</summary>
    public int StepEpochs { get; init; } = 10;
    /// <summary>For the step schedule: the rate's factor every StepEpochs epochs.</summary>
    public double StepGamma { get; init; } = 0.1;
    /// <summary>Seed of initialisation, shuffling and augmentation.</summary>
    public int Seed { get; init; }
    /// <summary>Random crop with zero padding and random horizontal flip of each training image (off by default).</summary>
    public bool Augment { get; init; }
    /// <summary>With <see cref="Augment"/>: pixels of zero padding around the image before the crop (4 for CIFAR).</summary>
    public int CropPadding { get; init; } = 4;
    /// <summary>With <see cref="Augment"/>: mirror half the images left-right (usual for CIFAR, not for digits).</summary>
    public bool HorizontalFlip { get; init; } = true;

    /// <summary>Throws a one-line error naming the first invalid option.</summary>
    public void Validate()
    {
        if (Epochs < 0) throw new SurgeonException($"--epochs must be ≥ 0, got {Epochs}");
        if (BatchSize < 1) throw new SurgeonException($"--batch-size must be ≥ 1, got {BatchSize}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new SurgeonException($"--lr must be positive, got {LearningRate}");
        // Written so that NaN fails too (every comparison with NaN is false).
        if (!(Momentum >= 0 && Momentum < 1)) throw new SurgeonException($"--momentum must be in [0, 1), got {Momentum}");
        if (!(WeightDecay >= 0) || double.IsInfinity(WeightDecay)) throw new SurgeonException($"--weight-decay must be a finite number ≥ 0, got {WeightDecay}");
        if (!(StepGamma > 0) || double.IsInfinity(StepGamma)) throw new SurgeonException($"the step schedule's decay factor must be a finite positive number, got {StepGamma}");
        if (CropPadding < 0) throw new SurgeonException($"crop padding must be ≥ 0, got {CropPadding}");
        if (StepEpochs < 1) throw new SurgeonException($"--step-epochs must be ≥ 1, got {StepEpochs}");
    }

    /// <summary>Learning rate for a (0-based) epoch; cosine anneals to zero over the run.</summary>
    public double RateAt(int epoch) => Schedule switch
    {
        LrSchedule.Constant => LearningRate,
        LrSchedule.Cosine => LearningRate * 0.5 * (1 + Math.Cos(Math.PI * epoch / Math.Max(1, Epochs))),
        LrSchedule.Step => LearningRate * Math.Pow(StepGamma, epoch / StepEpochs),
        _ => throw new ArgumentOutOfRangeException(nameof(Schedule)),
    };
}
