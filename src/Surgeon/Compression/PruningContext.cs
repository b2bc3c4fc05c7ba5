using Surgeon.Data;
using Surgeon.Progress;
using static TorchSharp.torch;

namespace Surgeon.Compression;

/// <summary>
/// Everything a method's stages may need: the model and its prunable weights, the training data (for gradients and
/// real-loss scoring) and the samples scores average over, what earlier rounds pruned, the seed, the device and the
/// progress sink. <see cref="Cache"/> keeps work that depends only on the dense model and the seed (e.g. per-sample
/// gradients) across the sparsities of a sweep.
/// </summary>
public sealed class PruningContext
{
    /// <summary>The model being pruned.</summary>
    public required nn.Module<Tensor, Tensor> Model { get; init; }
    /// <summary>Its prunable weights, in the order every flat mask uses.</summary>
    public required IReadOnlyList<PrunableParameter> Parameters { get; init; }
    /// <summary>Training data for gradients and real-loss scoring (null when the method needs none).</summary>
    public ImageDataset? TrainData { get; init; }
    /// <summary>Seed of every random choice (Fisher sample, randomised starts).</summary>
    public int Seed { get; init; }
    /// <summary>Device the work runs on.</summary>
    public Device Device { get; init; } = CPU;
    /// <summary>Where long work reports progress.</summary>
    public IProgressReporter Progress { get; init; } = NullProgress.Instance;
    /// <summary>The methods' settings (Fisher samples, damping, CBS and CHITA budgets, …).</summary>
    public PruningOptions Options { get; init; } = new();
    /// <summary>Work a stage computed from the dense model and the seed, kept for the next sparsity of a sweep (disposed by <see cref="ReleaseCache"/>).</summary>
    public Dictionary<string, object> Cache { get; } = [];

    /// <summary>
    /// When set, the per-sample gradients G of the empirical Fisher for a seed (N×d float32, a new tensor the Fisher
    /// then owns), read from a Fisher file (<c>surgeon fisher</c>) instead of computed from <see cref="TrainData"/>.
    /// </summary>
    internal Func<int, Tensor>? FisherGradients { get; init; }

    /// <summary>The samples a data-dependent score averages over; null = <see cref="PruningOptions.ScoreSamples"/>
    /// training samples drawn with <see cref="Seed"/> when a score first asks (see <see cref="RequireScoreData"/>).</summary>
    public ScoringData? ScoreData { get; set; }

    /// <summary>Weights already pruned (e.g. by an earlier round): rules keep them pruned and count them toward the target.</summary>
    public MaskSet? Mask { get; init; }

    /// <summary>Per non-removable filter group, the channels already masked: filter rules count them as removed.</summary>
    public IReadOnlyDictionary<string, long[]> MaskedChannels { get; init; } = new Dictionary<string, long[]>();
    /// <summary>At most this fraction of the prunable weights is kept by any target this context serves (1 − the lowest
    /// sparsity of a run or sweep); only the memory estimate reads it, to size the kept-set solve. 1 = unknown.</summary>
    internal double KeptFraction { get; init; } = 1;

    /// <summary>The method being run (set by <see cref="PruningMethod.Prune(PruningContext, PruneTarget)"/>), so shared work such as the Fisher is
    /// prepared for all of its steps at once.</summary>
    internal PruningMethod? Method { get; set; }

    /// <summary>Disposes what the methods cached (the empirical Fisher and its factors) and empties the cache.</summary>
    public void ReleaseCache()
    {
        foreach (var cached in Cache.Values.OfType<IDisposable>()) cached.Dispose();
        Cache.Clear();
    }

    /// <summary>The training data, or a one-line error naming <paramref name="method"/>.</summary>
    public ImageDataset RequireTrainData(string method) =>
        TrainData ?? throw new SurgeonException($"method '{method}' needs training data; pass --data");

    /// <summary>The samples for data-dependent scores: <see cref="ScoreData"/>, else (once) a seeded random subset of
    /// <see cref="PruningOptions.ScoreSamples"/> training samples (all of them when there are fewer).</summary>
    public ScoringData RequireScoreData(string score)
    {
        if (ScoreData is not null) return ScoreData;
        var train = TrainData ?? throw new SurgeonException($"score '{score}' needs training data; pass --data");
        ScoreData = ScoringData.FromDataset(train, train.RandomSubset(Math.Min(Options.ScoreSamples, train.Count), Seed), device: Device);
        return ScoreData;
    }

    /// <summary>The shape of one input sample, from the score data or the training data (null when there is neither).</summary>
    public long[]? SampleShape => ScoreData?.SampleShape ?? TrainData?.SampleShape.Select(s => (long)s).ToArray();
}

