using Surgeon.Data;
using Surgeon.Progress;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>
/// Everything a selection or update may need: the model and its prunable weights, the training data (for gradients
/// and real-loss scoring), the seed, the device and the progress sink. <see cref="Cache"/> keeps work that depends
/// only on the dense model and the seed (e.g. per-sample gradients) across the sparsities of a sweep.
/// </summary>
public sealed class PruningContext
{
    public required nn.Module<Tensor, Tensor> Model { get; init; }
    public required IReadOnlyList<PrunableParameter> Parameters { get; init; }
    public ImageDataset? TrainData { get; init; }
    public int Seed { get; init; }
    public Device Device { get; init; } = CPU;
    public IProgressReporter Progress { get; init; } = NullProgress.Instance;
    public PruningOptions Options { get; init; } = new();
    public Dictionary<string, object> Cache { get; } = [];

    /// <summary>Disposes what the methods cached (the empirical Fisher and its factors) and empties the cache.</summary>
    public void ReleaseCache()
    {
        foreach (var cached in Cache.Values.OfType<IDisposable>()) cached.Dispose();
        Cache.Clear();
    }

    public ImageDataset RequireTrainData(string method) =>
        TrainData ?? throw new SurgeonException($"method '{method}' needs training data; pass --data");
}

/// <summary>Options of the methods that use curvature; the plain magnitude methods ignore them.</summary>
public sealed record PruningOptions
{
    /// <summary>Number of per-sample gradients N in the empirical Fisher.</summary>
    public int FisherSamples { get; init; } = 1000;
    /// <summary>Dampening λ of F_λ = λI + F.</summary>
    public double Lambda { get; init; } = 1e-3;
    /// <summary>Fisher blocks: 0 = the whole model in one block, -1 = one block per layer, B &gt; 0 = chunks of B weights.</summary>
    public int BlockSize { get; init; }
    /// <summary>Examples averaged into one "sample" gradient (m; 1 = one example per sample).</summary>
    public int ExamplesPerSample { get; init; } = 1;
    /// <summary>Scale of the OBS weight update (1 = the full update).</summary>
    public double UpdateScale { get; init; } = 1.0;

    // CBS-S (Yu et al. 2022), with the paper's values as defaults.
    /// <summary>ε: a swap is accepted when it lowers f(P) by at least this much.</summary>
    public double CbsEpsilon { get; init; } = 1e-4;
    /// <summary>When set, ε is relative to f(P₀) of the start mask instead of absolute.</summary>
    public bool CbsRelativeEpsilon { get; init; }
    /// <summary>ρ: each i ∈ P is tried against the kept weights within ±ρ ranks.</summary>
    public int CbsRho { get; init; } = 10;
    /// <summary>τ: an iteration ends after this many i's found no improving swap.</summary>
    public int CbsTau { get; init; } = 20;
    public int CbsMaxIterations { get; init; } = 100;
    /// <summary>Randomised magnitude masks scored for the start (candidate 0 is global magnitude).</summary>
    public int CbsCandidates { get; init; } = 50;
    /// <summary>Training samples on which the real loss of a mask is measured.</summary>
    public int CbsLossSamples { get; init; } = 5000;
}
