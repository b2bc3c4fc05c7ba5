using Surgeon.Benchmarking;
using Surgeon.Models;
using Surgeon.Numerics;
using Surgeon.Tests.Models;
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

    [Fact]
    public void UnstructuredMlp_EveryRuntimeAndBatch_TimedRunsTimes_TheoreticalSpeedupFromTheCounts()
    {
        var (dense, pruned) = TinyMlps();
        int threadsBefore = get_num_threads();
        var bench = new SpeedupBenchmark { Runtimes = InferenceRuntimes.Default, BatchSizes = [1, 4], Runs = 3, Warmup = 1, Threads = 1 };
        var result = bench.Run(dense, pruned);

        Assert.Equal(threadsBefore, get_num_threads()); // the process-wide LibTorch setting is put back
        Assert.Equal(["torchsharp/1", "torchsharp/4", "onnx/1", "onnx/4"], result.Latencies.Select(l => $"{l.Runtime}/{l.Batch}"));
        Assert.All(result.Latencies, l =>
        {
            Assert.Equal(3, l.DenseMs.Count);
            Assert.Equal(3, l.PrunedMs.Count);
            Assert.All(l.DenseMs.Concat(l.PrunedMs), ms => Assert.True(ms > 0 && ms < 10_000, $"{ms} ms"));
        });
        // 784·8 + 8·4 + 4·10 = 6,344 weights, no biases; the first ⌊90 %⌋ of each zeroed: 628 + 4 + 4 = 636 left.
        Assert.Equal(6_344, dense.Cost.Flops);
        Assert.Equal(636, pruned.Cost.NonzeroFlops);
        Assert.Equal(6_344.0 / 636, result.TheoreticalSpeedup(pruned), 12);
        Assert.Equal(1.0, result.TheoreticalSpeedup(dense));
        Assert.True(result.SameShape);
        Assert.NotNull(SpeedupTable.Note(result));
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
