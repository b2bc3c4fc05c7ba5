using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Modifiers;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

/// <summary>What the tests of pruning while training vary.</summary>
internal sealed record PwtOptions
{
    public string? Measure { get; init; }
    public FilterPruningSchedule? Schedule { get; init; }
    public bool Structured { get; init; } = true;
    public int ScoreSamples { get; init; } = 1000;
    public int DynamicsSamples { get; init; } = 500;
    public int DynamicsEverySteps { get; init; }
}

/// <summary>The training loop with a prune-while-training modifier (made once, so a second run reuses it) and the
/// dynamics recorder, as train builds it.</summary>
internal sealed class PwtDriver(TrainOptions train, PwtOptions options)
{
    private readonly PruneWhileTrainingModifier? pruning = options.Measure is null
        ? null
        : new PruneWhileTrainingModifier(PruningMethods.Get(options.Measure, options.Structured ? "filter" : "global"), options.Schedule!)
        {
            ScoreSamples = options.ScoreSamples,
            Options = new PruningOptions { FisherSamples = options.ScoreSamples, BlockSize = 64 },
        };

    public nn.Module<Tensor, Tensor> Run(nn.Module<Tensor, Tensor> model, ImageDataset data, ImageDataset? test, DynamicsLog log)
    {
        var recorder = new DynamicsModifier(log) { Samples = options.DynamicsSamples, EverySteps = options.DynamicsEverySteps };
        using var loop = new TrainingLoop(train, model, data)
        {
            TestData = test,
            Modifiers = pruning is null ? [recorder] : [pruning, recorder],
        };
        loop.Run();
        return loop.Model;
    }
}

/// <summary>The training loop with gradual pruning (a method and a schedule) or a fixed mask (neither), as finetune builds it.</summary>
internal sealed class GradualDriver(TrainOptions train)
{
    public PruningMethod? Method { get; init; }
    public PolynomialSparsitySchedule? Schedule { get; init; }
    public PruningOptions Options { get; init; } = new();
    public Action<EpochStats, double>? AfterEpoch { get; init; }

    /// <summary>Trains the model in place; returns the mask it held.</summary>
    public MaskSet Run(nn.Module<Tensor, Tensor> model, ImageDataset data, ImageDataset? test)
    {
        TrainingModifier modifier = Method is null
            ? new FixedMaskModifier()
            : new GradualPruningModifier(Method, Schedule!) { Options = Options };
        TrainingLoop? running = null;
        using var loop = running = new TrainingLoop(train, model, data)
        {
            TestData = test,
            Modifiers = [modifier],
            AfterEpoch = s => AfterEpoch?.Invoke(s, running!.Mask!.Sparsity),
        };
        loop.Run();
        return loop.Mask!;
    }
}
