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
    /// <summary>Fisher block size B (0 = one block per layer is not implied; 0 means the whole model in one block).</summary>
    public int BlockSize { get; init; }
    /// <summary>Examples averaged into one "sample" gradient (m; 1 = one example per sample).</summary>
    public int ExamplesPerSample { get; init; } = 1;
    /// <summary>Scale of the OBS weight update (1 = the full update).</summary>
    public double UpdateScale { get; init; } = 1.0;
}
