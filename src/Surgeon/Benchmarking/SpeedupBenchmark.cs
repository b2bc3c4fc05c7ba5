using System.Diagnostics;
using Surgeon.Models;
using Surgeon.Progress;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Benchmarking;

/// <summary>A model to time, with what it is (label, where it came from) and its parameter and FLOP counts.</summary>
internal sealed record BenchModel(string Label, string Source, nn.Module<Tensor, Tensor> Model, ModelSpec Spec, ModelCost Cost)
{
    public static BenchModel Of(string label, string source, nn.Module<Tensor, Tensor> model, ModelSpec spec) =>
        new(label, source, model, spec, ModelCost.Measure(model, spec.InputShape));
}

/// <summary>The inference times of the dense and the pruned model in one runtime at one batch size (milliseconds per batch).</summary>
internal sealed record LatencyResult(string Runtime, int Batch, IReadOnlyList<double> DenseMs, IReadOnlyList<double> PrunedMs)
{
    public double DenseMedianMs => Median(DenseMs);
    public double PrunedMedianMs => Median(PrunedMs);
    /// <summary>Dense time / pruned time, of the medians.</summary>
    public double MeasuredSpeedup => DenseMedianMs / PrunedMedianMs;

    public static double Median(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) return double.NaN;
        var sorted = xs.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}

/// <summary>What <see cref="SpeedupBenchmark.Run"/> measured, and how.</summary>
internal sealed record SpeedupResult(BenchModel Dense, BenchModel Pruned, int Threads, int Runs, int Warmup, int Seed,
    IReadOnlyList<LatencyResult> Latencies)
{
    /// <summary>ShrinkBench's theoretical speedup of a model: the dense model's FLOPs over this model's nonzero FLOPs.</summary>
    public double TheoreticalSpeedup(BenchModel model) =>
        model.Cost.NonzeroFlops == 0 ? double.PositiveInfinity : (double)Dense.Cost.Flops / model.Cost.NonzeroFlops;

    /// <summary>Whether the pruned model has the dense model's layer sizes (unstructured zeros, no filters removed):
    /// dense kernels then multiply its zeros like any other weight, and only a sparse kernel could reach the theoretical speedup.</summary>
    public bool SameShape => Dense.Cost.Flops == Pruned.Cost.Flops && Dense.Cost.Parameters == Pruned.Cost.Parameters;
}

/// <summary>
/// Times eval-mode inference of a dense and a pruned model on the same random batch, in each runtime at each batch
/// size: warm-up runs, then <see cref="Runs"/> timed forward passes of each model, the two models alternating (and
/// alternating which goes first) so that load from other processes falls on both alike; the median is reported.
/// </summary>
internal sealed class SpeedupBenchmark
{
    /// <summary>Batches larger than this are refused up front: a forward pass of a conv model at such a batch needs
    /// gigabytes of activations, and a latency table has no use for it.</summary>
    public const int MaxBatch = 4096;

    public required IReadOnlyList<InferenceRuntime> Runtimes { get; init; }
    public required IReadOnlyList<int> BatchSizes { get; init; }
    public int Runs { get; init; } = 30;
    public int Warmup { get; init; } = 5;
    /// <summary>Intra-op threads of every runtime (LibTorch's process-wide count, ONNX Runtime's per session).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Seed of the random input batch (the same batch for both models).</summary>
    public int Seed { get; init; }
    public IProgressReporter Progress { get; init; } = NullProgress.Instance;

    /// <summary>Checks the settings, so a bad one stops the command before any model is loaded.</summary>
    public void Validate()
    {
        if (Runtimes.Count == 0) throw new SurgeonException("no runtime to time in: give --runtimes");
        if (BatchSizes.Count == 0) throw new SurgeonException("no batch size to time: give --batch-sizes");
        foreach (int b in BatchSizes)
            if (b < 1 || b > MaxBatch)
                throw new SurgeonException($"--batch-sizes: {b} is not a batch size in 1..{MaxBatch}");
        if (Runs < 1) throw new SurgeonException($"--runs must be ≥ 1 (the median of that many timed runs), got {Runs}");
        if (Warmup < 0) throw new SurgeonException($"--warmup must be ≥ 0, got {Warmup}");
        if (Threads < 1) throw new SurgeonException($"--threads must be ≥ 1, got {Threads}");
    }

    /// <summary>Refuses two models that do not do the same job: another architecture, input shape or class count.</summary>
    public static void CheckComparable(ModelSpec dense, string densePath, ModelSpec pruned, string prunedPath)
    {
        if (!dense.Architecture.Equals(pruned.Architecture, StringComparison.OrdinalIgnoreCase))
            throw new SurgeonException($"{densePath} holds a {dense.Architecture} but {prunedPath} a {pruned.Architecture}; compare a model with a pruned copy of itself");
        if (!dense.InputShape.AsSpan().SequenceEqual(pruned.InputShape))
            throw new SurgeonException($"{densePath} takes {dense.InputShapeText} inputs but {prunedPath} {pruned.InputShapeText}; compare models of the same data");
        if (dense.NumClasses != pruned.NumClasses)
            throw new SurgeonException($"{densePath} predicts {dense.NumClasses} classes but {prunedPath} {pruned.NumClasses}; compare models of the same data");
    }

    public SpeedupResult Run(BenchModel dense, BenchModel pruned)
    {
        Validate();
        CheckComparable(dense.Spec, dense.Source, pruned.Spec, pruned.Source);
        int previousThreads = get_num_threads();
        set_num_threads(Threads);
        var latencies = new List<LatencyResult>();
        try
        {
            using var task = Progress.Start("bench-model", (double)Runtimes.Count * BatchSizes.Count * 2 * (Warmup + Runs));
            foreach (var runtime in Runtimes)
            {
                foreach (int batch in BatchSizes)
                {
                    task.Description = $"bench-model: {runtime.Name}, batch {batch}";
                    using var input = RandomBatch(dense.Spec.InputShape, batch);
                    using var d = runtime.Prepare(dense.Model, dense.Spec, input, Threads);
                    using var p = runtime.Prepare(pruned.Model, pruned.Spec, input, Threads);
                    for (int i = 0; i < Warmup; i++)
                    {
                        d.Run();
                        p.Run();
                        task.Advance(2);
                    }
                    var denseMs = new List<double>(Runs);
                    var prunedMs = new List<double>(Runs);
                    for (int i = 0; i < Runs; i++)
                    {
                        if (i % 2 == 0)
                        {
                            denseMs.Add(Time(d));
                            prunedMs.Add(Time(p));
                        }
                        else
                        {
                            prunedMs.Add(Time(p));
                            denseMs.Add(Time(d));
                        }
                        task.Advance(2);
                    }
                    latencies.Add(new LatencyResult(runtime.Name, batch, denseMs, prunedMs));
                }
            }
        }
        finally
        {
            set_num_threads(previousThreads);
        }
        return new SpeedupResult(dense, pruned, Threads, Runs, Warmup, Seed, latencies);
    }

    private Tensor RandomBatch(int[] inputShape, int batch)
    {
        using var generator = new Generator((ulong)Seed);
        return randn([batch, .. inputShape.Select(d => (long)d)], generator: generator);
    }

    private static double Time(IInferenceRunner runner)
    {
        long start = Stopwatch.GetTimestamp();
        runner.Run();
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
