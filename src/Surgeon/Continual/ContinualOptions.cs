namespace Surgeon.Continual;

/// <summary>
/// How a continual run trains: the MLP's hidden widths, epochs and Adam learning rates (the first task may differ, as
/// in the rank-update paper's code), the batch size, the ranks of rank updates (r₁ for the first task, r₂ for each later
/// one), PackNet's pruning step (a Surgeon score, the fraction of a task's weights it frees, the retraining epochs) and
/// the seed, and the loss (cross-entropy, or the rank-update notebook's MSE on the softmax output).
/// </summary>
internal sealed record ContinualOptions
{
    public IReadOnlyList<int> Hidden { get; init; } = [256, 256];
    public int Epochs { get; init; } = 3;
    public int? EpochsFirst { get; init; }
    public double LearningRate { get; init; } = 1e-3;
    public double? LearningRateFirst { get; init; }
    public int BatchSize { get; init; } = 128;
    public int RankFirst { get; init; } = 11;
    public int RankNext { get; init; } = 1;
    public string PruneMethod { get; init; } = "mp";
    public double PruneFraction { get; init; } = 0.5;
    public int RetrainEpochs { get; init; } = 1;
    public int Seed { get; init; }
    public string Loss { get; init; } = ContinualLoss.CrossEntropy;

    public int EpochsOf(int task) => task == 0 ? EpochsFirst ?? Epochs : Epochs;
    public double LearningRateOf(int task) => task == 0 ? LearningRateFirst ?? LearningRate : LearningRate;

    public void Validate()
    {
        if (Hidden.Count == 0 || Hidden.Any(h => h < 1)) throw new SurgeonException($"--hidden needs widths ≥ 1, got [{string.Join(", ", Hidden)}]");
        if (Epochs < 1 || EpochsFirst is < 1) throw new SurgeonException("--epochs and --epochs-first must be at least 1");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate) || LearningRateFirst is { } f && (!(f > 0) || double.IsInfinity(f)))
            throw new SurgeonException("--lr and --lr-first must be positive and finite");
        if (BatchSize < 1) throw new SurgeonException($"--batch-size must be at least 1, got {BatchSize}");
        if (RankFirst < 1 || RankNext < 1) throw new SurgeonException("--rank-first and --rank-next must be at least 1");
        if (!(PruneFraction > 0 && PruneFraction < 1)) throw new SurgeonException($"--prune-fraction must be in (0, 1), got {PruneFraction}");
        ContinualLoss.Check(Loss);
        if (RetrainEpochs < 0) throw new SurgeonException($"--retrain-epochs must be at least 0, got {RetrainEpochs}");
    }
}
