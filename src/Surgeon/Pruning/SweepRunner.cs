using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Progress;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>
/// One-shot pruning of a trained model over a grid of methods × sparsities × seeds. Each point starts from the
/// same dense weights; work that depends only on the dense model and the seed is shared through the context cache.
/// </summary>
internal sealed class SweepRunner
{
    public required nn.Module<Tensor, Tensor> Model { get; init; }
    public required ImageDataset TestData { get; init; }
    public ImageDataset? TrainData { get; init; }
    public required IReadOnlyList<PruningMethod> Methods { get; init; }
    public required IReadOnlyList<double> Sparsities { get; init; }
    public IReadOnlyList<int> Seeds { get; init; } = [0];
    public PruningOptions Options { get; init; } = new();
    public Device Device { get; init; } = CPU;
    public IProgressReporter Progress { get; init; } = NullProgress.Instance;
    /// <summary>Points already computed (e.g. by an interrupted run): they are reported, not recomputed.</summary>
    public IReadOnlyCollection<SweepPoint> Done { get; init; } = [];
    /// <summary>
    /// When positive: after each point is evaluated, recalibrate the BatchNorm statistics on this many training samples
    /// and evaluate again, reported as a separate method "&lt;method&gt;+bn" (no effect on models without BatchNorm).
    /// </summary>
    public int RecalibrateBnSamples { get; init; }

    /// <summary>Which weights the methods prune (sparsity is a fraction of this set).</summary>
    public PrunableSet Prunable { get; init; } = PrunableSet.All;

    /// <summary>The suffix of the method name under which BN-recalibrated accuracies are reported.</summary>
    public const string RecalibratedSuffix = "+bn";

    /// <summary>Called as soon as each new point is finished.</summary>
    public Action<SweepPoint>? OnPoint { get; init; }

    /// <summary>
    /// When set, called with (method, sparsity, seed) before each point not in <see cref="Done"/>: it returns a claim,
    /// held while the point is computed and recorded through <see cref="OnPoint"/> and disposed after, or null to skip
    /// the point (another worker holds it or has finished it, or it is not this worker's). Skipped points are not in
    /// the result.
    /// </summary>
    public Func<string, double, int, IDisposable?>? Claim { get; init; }

    /// <summary>Whether each point is also reported after BatchNorm recalibration (asked for, and the model has BatchNorm).</summary>
    public bool Recalibrates => RecalibrateBnSamples > 0 && BatchNormRecalibration.Layers(Model).Count > 0;

    /// <summary>Per-sample gradients of the Fisher per seed, read from a Fisher file (see <see cref="PruningContext.FisherGradients"/>).</summary>
    public Func<int, Tensor>? FisherGradients { get; init; }

    /// <summary>Whether <see cref="Run"/> evaluates the dense model (a worker of a planned sweep does not: the plan holds it).</summary>
    public bool EvaluateDense { get; init; } = true;

    /// <returns>The dense model's test result (null without <see cref="EvaluateDense"/>) and the points, in grid order.</returns>
    public (EvalResult? Dense, List<SweepPoint> Points) Run()
    {
        // What would fail at some point fails before the first one, so a bad sweep leaves no partial results behind.
        bool recalibrate = Recalibrates;
        if (recalibrate && TrainData is null)
            throw new SurgeonException("BatchNorm recalibration needs training data");
        var parameters = PrunableParameters.Discover(Model, Prunable);
        long weights = PrunableParameters.TotalCount(parameters);
        foreach (var s in Sparsities) SparsityTarget.PruneCount(s, weights);
        var check = new PruningContext { Model = Model, Parameters = parameters, TrainData = TrainData, Options = Options };
        foreach (var method in Methods) method.Check(check);
        var dense = EvaluateDense ? Evaluator.Evaluate(Model, TestData, device: Device) : null;
        var points = new List<SweepPoint>();
        using var snapshot = new ModelSnapshot(Model);
        int total = Methods.Count * Sparsities.Count * Seeds.Count;
        using var task = Progress.Start("sweep", total);
        foreach (int seed in Seeds)
        {
            var context = new PruningContext
            {
                Model = Model,
                Parameters = parameters,
                TrainData = TrainData,
                Seed = seed,
                Device = Device,
                Progress = Progress,
                Options = Options,
                FisherGradients = FisherGradients,
                KeptFraction = 1 - Sparsities.Min(),
            };
            foreach (var method in Methods)
            {
                foreach (double sparsity in Sparsities)
                {
                    string recalibrated = method.Name + RecalibratedSuffix;
                    var previous = Done.FirstOrDefault(p => p.Method == method.Name && p.Sparsity == sparsity && p.Seed == seed);
                    var previousRecalibrated = Done.FirstOrDefault(p => p.Method == recalibrated && p.Sparsity == sparsity && p.Seed == seed);
                    if (previous is not null && (!recalibrate || previousRecalibrated is not null))
                    {
                        points.Add(previous);
                        if (recalibrate) points.Add(previousRecalibrated!);
                        task.Advance();
                        continue;
                    }
                    using var claim = Claim?.Invoke(method.Name, sparsity, seed);
                    if (Claim is not null && claim is null)
                    {
                        task.Advance();
                        continue;
                    }
                    task.Description = $"sweep: {method.Name} at {sparsity:0.###} (seed {seed})";
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    snapshot.Restore();
                    using var result = method.Prune(context, sparsity);
                    double actual = result.Sparsity;
                    var pruned = result.Model; // a smaller model when the method removed filters
                    var eval = Evaluator.Evaluate(pruned, TestData, device: Device);
                    if (!double.IsFinite(eval.Loss))
                        Progress.Info($"{method.Name} at {sparsity:0.###} (seed {seed}): the pruned model's outputs overflow float32 (test loss {eval.Loss}); recorded as a result");
                    var point = previous
                        ?? new SweepPoint(method.Name, sparsity, seed, actual, eval.Accuracy, eval.Loss, clock.Elapsed.TotalSeconds);
                    points.Add(point);
                    if (previous is null) OnPoint?.Invoke(point);
                    if (recalibrate)
                    {
                        BatchNormRecalibration.Run(pruned, TrainData!, RecalibrateBnSamples, seed, device: Device);
                        var after = Evaluator.Evaluate(pruned, TestData, device: Device);
                        var recalibratedPoint = new SweepPoint(recalibrated, sparsity, seed, actual, after.Accuracy, after.Loss,
                            clock.Elapsed.TotalSeconds);
                        points.Add(recalibratedPoint);
                        OnPoint?.Invoke(recalibratedPoint);
                    }
                    if (!ReferenceEquals(pruned, Model)) pruned.Dispose();
                    task.Advance();
                }
            }
            context.ReleaseCache();
        }
        snapshot.Restore();
        return (dense, points);
    }
}
