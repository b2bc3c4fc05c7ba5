using System.Diagnostics;
using Surgeon.Benchmarking;
using Surgeon.Models;
using Surgeon.Numerics;
using Surgeon.Tests.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Benchmarking;

public class SpeedupBenchmarkTests
{
    [Theory]
    [InlineData(new[] { 3.0, 1.0, 2.0 }, 2.0)]
    [InlineData(new[] { 4.0, 1.0, 3.0, 2.0 }, 2.5)]
    [InlineData(new[] { 7.0 }, 7.0)]
    public void Median_OfOddAndEvenCounts(double[] xs, double median) => Assert.Equal(median, LatencyResult.Median(xs));

    /// <summary>MLPNet 784-8-4-10 (width 0.2), and a copy with 90 % of each layer's weights zeroed.</summary>
    private static (BenchModel Dense, BenchModel Pruned) TinyMlps()
    {
        var spec = new ModelSpec("mlpnet", [1, 28, 28], 10, Width: 0.2);
        manual_seed(1);
        var dense = ModelRegistry.Create(spec);
        manual_seed(1);
        var pruned = ModelRegistry.Create(spec);
        using (no_grad())
        {
            foreach (var p in pruned.parameters())
                p.view(-1).narrow(0, 0, p.numel() * 9 / 10).zero_();
        }
        return (BenchModel.Of("dense", "dense.ckpt", dense, spec), BenchModel.Of("pruned", "pruned.ckpt", pruned, spec));
    }

    /// <summary>Every weight's value looked at, not ModelCost's count: how many parameters are nonzero.</summary>
    private static long CountNonzeros(nn.Module<Tensor, Tensor> model) =>
        model.parameters().Sum(p => (long)p.detach().data<float>().ToArray().Count(v => v != 0));

    [Fact]
    public void UnstructuredMlp_CountsAreHandCountsAndTheCountedNonzeros_TheoreticalSpeedupTheirRatio_RealRuntimesRun()
    {
        var (dense, pruned) = TinyMlps();
        // 784·8 + 8·4 + 4·10 = 6,344 weights, no biases, one multiply-accumulate each per example; the first ⌊90 %⌋ of
        // each layer zeroed leaves 628 + 4 + 4 = 636.
        Assert.Equal(6_344, pruned.Model.parameters().Sum(p => p.numel()));
        Assert.Equal(636, CountNonzeros(pruned.Model));
        Assert.Equal(6_344, CountNonzeros(dense.Model));
        Assert.Equal((6_344L, 6_344L, 6_344L, 6_344L), (dense.Cost.Parameters, dense.Cost.NonzeroParameters, dense.Cost.Flops, dense.Cost.NonzeroFlops));
        Assert.Equal((6_344L, 636L, 6_344L, 636L), (pruned.Cost.Parameters, pruned.Cost.NonzeroParameters, pruned.Cost.Flops, pruned.Cost.NonzeroFlops));

        int threadsBefore = get_num_threads();
        var bench = new SpeedupBenchmark { Runtimes = InferenceRuntimes.Default, BatchSizes = [1, 4], Runs = 3, Warmup = 1, Threads = 1 };
        var result = bench.Run(dense, pruned);

        Assert.Equal(threadsBefore, get_num_threads()); // the process-wide LibTorch setting is put back
        Assert.Equal(6_344.0 / 636, result.TheoreticalSpeedup(pruned), 12);
        Assert.Equal(1.0, result.TheoreticalSpeedup(dense));
        Assert.True(result.SameShape);
        Assert.Contains("dense kernels multiply its zeros", SpeedupTable.Note(result));
        // The real runners ran: every timed run of both models in both runtimes took some time. (What the times are
        // of is checked with a runtime whose runs the test controls, below.)
        Assert.Equal(["torchsharp/1", "torchsharp/4", "onnx/1", "onnx/4"], result.Latencies.Select(l => $"{l.Runtime}/{l.Batch}"));
        Assert.All(result.Latencies, l =>
        {
            Assert.Equal(3, l.DenseMs.Count);
            Assert.Equal(3, l.PrunedMs.Count);
            Assert.All(l.DenseMs.Concat(l.PrunedMs), ms => Assert.True(ms > 0, $"{ms} ms"));
        });
    }

    /// <summary>A runner that busy-waits a set time per run and records how long each of its runs took inside.</summary>
    private sealed class BusyRunner(double busyMs) : IInferenceRunner
    {
        public List<double> InsideMs { get; } = [];

        public void Run()
        {
            long start = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(start).TotalMilliseconds < busyMs) { }
            InsideMs.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        public void Dispose() { }
    }

    [Fact]
    public void Latencies_AreTheTimesOfEachModelsOwnTimedRuns_OnTheSameBatch_AndTheirMedians()
    {
        var (dense, pruned) = TinyMlps();
        const double denseBusyMs = 3;
        var prepared = new List<(nn.Module<Tensor, Tensor> Model, Tensor Input, int Threads, BusyRunner Runner)>();
        var runtime = new InferenceRuntime("busy", "busy-waits 3 ms per dense run, none per pruned run", (model, _, input, threads) =>
        {
            var runner = new BusyRunner(ReferenceEquals(model, dense.Model) ? denseBusyMs : 0);
            prepared.Add((model, input.clone(), threads, runner));
            return runner;
        });
        var bench = new SpeedupBenchmark { Runtimes = [runtime], BatchSizes = [2, 5], Runs = 5, Warmup = 2, Threads = 1, Seed = 4 };
        var result = bench.Run(dense, pruned);

        Assert.Equal(2, result.Latencies.Count);
        Assert.Equal(4, prepared.Count); // a dense and a pruned runner per batch size
        for (int b = 0; b < 2; b++)
        {
            var (d, p) = (prepared[2 * b], prepared[2 * b + 1]);
            Assert.Same(dense.Model, d.Model);
            Assert.Same(pruned.Model, p.Model);
            long batch = new[] { 2L, 5L }[b];
            Assert.Equal([batch, 1, 28, 28], d.Input.shape);
            Assert.True(d.Input.eq(p.Input).all().item<bool>(), "the two models must see the same batch");
            Assert.Equal((1, 1), (d.Threads, p.Threads));
            // Warm-up runs, then the timed ones; the latencies are the timed runs, in order, of the right model: each
            // at least as long as what the runner itself measured inside that run.
            Assert.Equal(2 + 5, d.Runner.InsideMs.Count);
            Assert.Equal(2 + 5, p.Runner.InsideMs.Count);
            var l = result.Latencies[b];
            Assert.Equal(("busy", (int)batch), (l.Runtime, l.Batch));
            Assert.Equal(5, l.DenseMs.Count);
            Assert.Equal(5, l.PrunedMs.Count);
            for (int i = 0; i < 5; i++)
            {
                Assert.True(l.DenseMs[i] >= d.Runner.InsideMs[2 + i], $"dense run {i}: {l.DenseMs[i]} ms < {d.Runner.InsideMs[2 + i]} ms inside it");
                Assert.True(l.PrunedMs[i] >= p.Runner.InsideMs[2 + i], $"pruned run {i}: {l.PrunedMs[i]} ms < {p.Runner.InsideMs[2 + i]} ms inside it");
                Assert.True(l.DenseMs[i] >= denseBusyMs, $"dense run {i}: {l.DenseMs[i]} ms, shorter than its {denseBusyMs} ms busy wait");
            }
            // The medians, by hand: the 3rd of 5 sorted values.
            double denseMedian = l.DenseMs.Order().ElementAt(2), prunedMedian = l.PrunedMs.Order().ElementAt(2);
            Assert.Equal(denseMedian, l.DenseMedianMs);
            Assert.Equal(prunedMedian, l.PrunedMedianMs);
            Assert.Equal(denseMedian / prunedMedian, l.MeasuredSpeedup);
        }
        // The input is the seeded random batch: the same seed gives the same batch, another seed another.
        var again = new List<Tensor>();
        var recorder = new InferenceRuntime("record", "records its input", (_, _, input, _) => { again.Add(input.clone()); return new BusyRunner(0); });
        new SpeedupBenchmark { Runtimes = [recorder], BatchSizes = [2], Runs = 1, Warmup = 0, Threads = 1, Seed = 4 }.Run(dense, pruned);
        new SpeedupBenchmark { Runtimes = [recorder], BatchSizes = [2], Runs = 1, Warmup = 0, Threads = 1, Seed = 5 }.Run(dense, pruned);
        Assert.True(again[0].eq(prepared[0].Input).all().item<bool>());
        Assert.False(again[2].eq(prepared[0].Input).all().item<bool>());
    }

    [Fact]
    public void OneDnnForward_GivesTheSameLogits_AndEveryRunnerLeavesOneDnnOff()
    {
        // A narrow VGG (4-channel convs, where oneDNN's input gradients go wrong but its outputs must not), with random
        // norms so that nothing is the identity.
        var model = ConvModels.Create("vgg13", [1, 28, 28], width: 0.0625);
        ConvModels.RandomiseNorms(model);
        model.eval();
        manual_seed(3);
        using var x = randn(5, 1, 28, 28);
        using var expected = Forward(model, x);
        Tensor? withOneDnn = null;
        ConvolutionBackend.RunWithOneDnn(() => withOneDnn = Forward(model, x));
        using (withOneDnn)
        {
            double delta = withOneDnn!.sub(expected).abs().max().item<float>();
            Assert.True(delta < 1e-4, $"oneDNN's logits differ by {delta}");
        }

        foreach (var runtime in InferenceRuntimes.Known)
        {
            using var runner = runtime.Prepare(model, ConvModels.Structured(model).Spec, x, 1);
            runner.Run();
        }
        // oneDNN is off again: a narrow conv's input gradient is right (with it on, it mostly is not).
        new Numerics.ConvolutionBackendTests().NarrowConv_InputGradientMatchesAFloat64Reference(4, 28);
        Assert.DoesNotContain("torchsharp-onednn", InferenceRuntimes.Default.Select(r => r.Name));
    }

    private static Tensor Forward(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        using var _ = no_grad();
        return model.call(x).detach();
    }

    [Fact]
    public void Table_HasARowPerModelAndTheRatios_AndTheCsvARowPerModelRuntimeAndBatch()
    {
        var (dense, pruned) = TinyMlps();
        var result = new SpeedupResult(dense, pruned, Threads: 1, Runs: 2, Warmup: 0, Seed: 0,
        [
            new LatencyResult("torchsharp", 1, [2.0, 4.0], [1.0, 1.0]),
            new LatencyResult("onnx", 64, [30.0, 50.0, 40.0], [20.0, 20.0, 10.0]),
        ]);
        var lines = SpeedupTable.ToMarkdown(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.Equal("| model | checkpoint | params | nonzero params | FLOPs | nonzero FLOPs | theoretical speedup | torchsharp, batch 1 (ms) | onnx, batch 64 (ms) |", lines[0]);
        Assert.Equal("| dense | `dense.ckpt` | 6,344 | 6,344 | 6,344 | 6,344 | 1.00× | 3.00 | 40.00 |", lines[2]);
        Assert.Equal("| pruned | `pruned.ckpt` | 6,344 | 636 | 6,344 | 636 | 9.97× | 1.00 | 20.00 |", lines[3]);
        Assert.Equal("| **speedup** (dense ÷ pruned) | | | | | | **9.97×** | **3.00×** | **2.00×** |", lines[4]);
        Assert.All(lines, l => Assert.Equal(lines[0].Count(c => c == '|'), l.Count(c => c == '|')));

        var csv = SpeedupTable.ToCsv(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1 + 2 * 2, csv.Length);
        Assert.StartsWith("model,checkpoint,architecture,runtime,batch,threads,runs,warmup,params,nonzero_params,flops,nonzero_flops,theoretical_speedup,median_ms,min_ms,max_ms,measured_speedup", csv[0]);
        Assert.Equal("pruned,pruned.ckpt,mlpnet,onnx,64,1,2,0,6344,636,6344,636," + (6344.0 / 636).ToString("R", System.Globalization.CultureInfo.InvariantCulture) + ",20,10,20,2", csv[4]);
        Assert.Contains("median of 2 timed run(s)", SpeedupTable.ToReport(result));
    }

    [Fact]
    public void ShrunkVgg_TheoreticalSpeedup_IsDenseFlopsOverItsOwnNonzeroFlops()
    {
        var model = ConvModels.Create("vgg13", [1, 8, 8], width: 0.0625);
        var shrunk = ConvModels.Structured(model).Shrink(new Dictionary<string, long[]> { ["features.0"] = [0, 2], ["features.9"] = [0, 1, 2, 3, 4] });
        var dense = BenchModel.Of("dense", "d", model, ConvModels.Structured(model).Spec);
        var pruned = BenchModel.Of("pruned", "p", shrunk, ConvModels.Structured(shrunk).Spec);
        var result = new SpeedupResult(dense, pruned, 1, 1, 0, 0, []);
        Assert.False(result.SameShape);
        Assert.Null(SpeedupTable.Note(result));
        Assert.Equal((double)dense.Cost.Flops / pruned.Cost.NonzeroFlops, result.TheoreticalSpeedup(pruned));
        Assert.Equal(57_938, pruned.Cost.Flops); // ModelCostTests.ShrunkVgg_MatchesHandCounts
    }

    [Theory]
    [InlineData(0, 1, 0, 1, "--batch-sizes: 0 is not a batch size")]
    [InlineData(5000, 1, 0, 1, "--batch-sizes: 5000 is not a batch size")]
    [InlineData(1, 0, 0, 1, "--runs must be ≥ 1")]
    [InlineData(1, 1, -1, 1, "--warmup must be ≥ 0")]
    [InlineData(1, 1, 0, 0, "--threads must be ≥ 1")]
    public void BadSettings_AreRefused(int batch, int runs, int warmup, int threads, string phrase)
    {
        var bench = new SpeedupBenchmark { Runtimes = InferenceRuntimes.Known, BatchSizes = [batch], Runs = runs, Warmup = warmup, Threads = threads };
        Assert.Contains(phrase, Assert.Throws<SurgeonException>(bench.Validate).Message);
    }

    [Fact]
    public void Runtimes_ParseByName_AndRefuseUnknownOrRepeatedOnes()
    {
        Assert.Equal(["onnx", "torchsharp"], InferenceRuntimes.Parse(" ONNX, torchsharp ").Select(r => r.Name));
        Assert.Contains("unknown runtime 'tflite'", Assert.Throws<SurgeonException>(() => InferenceRuntimes.Parse("onnx,tflite")).Message);
        Assert.Contains("lists onnx twice", Assert.Throws<SurgeonException>(() => InferenceRuntimes.Parse("onnx,onnx")).Message);
    }
}
