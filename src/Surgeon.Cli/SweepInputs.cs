using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Progress;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Cli;

/// <summary>
/// What the three ways of running a sweep share (<see cref="Workflows.SweepAndReport"/> at once,
/// <see cref="Workflows.WritePlan"/> as a plan, <see cref="Workflows.RunPlan"/> as one worker of a plan): the data,
/// checked against the model, the balanced test subset, the journal key, and the <see cref="SweepRunner"/> over them.
/// </summary>
internal sealed record SweepInputs(ImageDataset Train, ImageDataset Test, string Key)
{
    public static SweepInputs Load(nn.Module<Tensor, Tensor> model, CheckpointInfo info, string dataSpec, PruningOptions options,
        PrunableSet prunable, int testSubset)
    {
        var (train, test) = DatasetCatalog.Load(dataSpec);
        info.EnsureFits(test);
        test = Workflows.BalancedSubset(test, testSubset, "--test-subset");
        // Finished points are journaled under this key; a rerun of the same sweep (same weights, data and options) skips them.
        return new SweepInputs(train, test, SweepKey.Of(info.WeightsSha256, dataSpec, options, model, prunable, testSubset));
    }

    /// <summary>The runner of <paramref name="methods"/> × <paramref name="sparsities"/> × <paramref name="seeds"/> on these data;
    /// the optional arguments are the runner's own defaults when not given.</summary>
    public SweepRunner Runner(nn.Module<Tensor, Tensor> model, IReadOnlyList<PruningMethod> methods, IReadOnlyList<double> sparsities,
        IReadOnlyList<int> seeds, PruningOptions options, int recalibrateBnSamples, PrunableSet prunable, Device? device = null,
        IProgressReporter? progress = null, IReadOnlyCollection<SweepPoint>? done = null, Action<SweepPoint>? onPoint = null,
        Func<int, Tensor>? fisherGradients = null, Func<string, double, int, IDisposable?>? claim = null, bool evaluateDense = true) => new()
        {
            Model = model,
            TestData = Test,
            TrainData = Train,
            Methods = methods,
            Sparsities = sparsities,
            Seeds = seeds,
            Options = options,
            Device = device ?? CPU,
            Progress = progress ?? NullProgress.Instance,
            RecalibrateBnSamples = recalibrateBnSamples,
            Prunable = prunable,
            Done = done ?? [],
            OnPoint = onPoint,
            FisherGradients = fisherGradients,
            Claim = claim,
            EvaluateDense = evaluateDense,
        };
}
