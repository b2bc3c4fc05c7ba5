using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Microsoft.ML.OnnxRuntime;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Export;
using Surgeon.Export.Onnx;
using Surgeon.Export.Sparse;
using Surgeon.Models;
using Surgeon.Quantization;
using Surgeon.Reports;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// Post-training quantisation of trained checkpoints (docs/quantization.md): for each, float accuracy and 8-bit weights
/// and activations on the full test set, then at 8, 6, 4 and 3 bits, per tensor and per channel (symmetric weights, MSE
/// scale; BatchNorm folded), the accuracy with weights only and with 8-bit activations too (min–max observer, 1,000
/// training samples) and of the unfolded weights the sparse file stores (on a 2,000-image test subset where the test
/// set is larger), bytes on disk (float32 weights file, float sparse, quantised sparse, gzip of each) and crossbar
/// tiles (128×128, 2^b levels); the three observers at 8 bits; ONNX Runtime latency of the QDQ model against float32
/// at batch 1 and 64 (one thread); and device variation on the crossbar at 8-bit levels.
/// Checkpoints are read from $SURGEON_QUANT_DIR (default runs/quant; scripts/quantization.sh makes them), the ones named
/// in $SURGEON_QUANT_MODELS (comma-separated file names without .ckpt) or all of them.
/// </summary>
internal static class QuantBench
{
    private static readonly int[] Bits = [8, 6, 4, 3];

    public static void Run()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture; // thousands separators and decimal points as in the docs
        string dir = Environment.GetEnvironmentVariable("SURGEON_QUANT_DIR") ?? "runs/quant";
        string[] names = Environment.GetEnvironmentVariable("SURGEON_QUANT_MODELS")?.Split(',') ??
            ["mlpnet-digits", "mlpnet-digits-mp-0.9", "resnet20-fashion", "resnet20-fashion-mp-0.9-ft", "vgg13-fashion", "vgg13-fashion-mp-0.9"];
        foreach (string name in names)
        {
            string path = Path.Combine(dir, name + ".ckpt");
            if (!File.Exists(path))
            {
                Console.WriteLine($"({path} not found: skipped; scripts/quantization.sh makes it)");
                continue;
            }
            Report(name, path);
        }
    }

    private static void Report(string name, string path)
    {
        var clock = Stopwatch.StartNew();
        var (model, info) = Checkpoint.Load(path);
        model.eval();
        var (train, test) = DatasetCatalog.Load(info.Dataset);
        // Time: the sweep of settings runs on a class-balanced 2,000-image test subset where the test set is larger;
        // the 8-bit claim is checked on the full test set.
        int[]? subset = test.Count > 2000 ? test.BalancedSubset(2000, 0) : null;
        string subsetText = subset is null ? $"all {test.Count:N0} test images" : $"a class-balanced 2,000 of the {test.Count:N0} test images";
        double floatFull = Evaluator.Evaluate(model, test).Accuracy;
        double floatSubset = subset is null ? floatFull : Evaluator.Evaluate(model, test, indices: subset).Accuracy;
        var (denseBytes, denseGzip) = DenseSizes.Measure(model);
        byte[] floatSparse = SparseFile.Build(info, ModelState.Read(model)).Bytes;
        long weights = WeightedLayers.Weights(model).Sum(p => p.Weight.numel());
        long nonzero = WeightedLayers.Weights(model).Sum(p => p.Weight.count_nonzero().item<long>());
        Line($"\n### {name} ({info.Architecture} on {info.Dataset}; Conv2d/Linear weights {weights:N0}, nonzero {nonzero:N0})\n");
        Line($"float32: accuracy {100 * floatFull:F2} % on all {test.Count:N0} test images{(subset is null ? "" : $", {100 * floatSubset:F2} % on the 2,000")}; " +
            $"weights file {denseBytes:N0} bytes (gzip {denseGzip:N0}), float sparse file {floatSparse.Length:N0} (gzip {Gzip(floatSparse):N0})\n");

        var activations = new ActivationQuantizationSettings { CalibrationSamples = Math.Min(1000, train.Count) };
        Line($"8 bits on all {test.Count:N0} test images (float32 {100 * floatFull:F2} %):\n");
        foreach (bool perChannel in new[] { false, true })
        {
            var prepared = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { PerChannel = perChannel, Scale = ScaleMethod.Mse });
            double weightsOnly = Accuracy(model, prepared, test, null);
            double both = Accuracy(model, PostTrainingQuantization.Calibrate(model, prepared, activations, train), test, null);
            string grid = perChannel ? "channel" : "tensor";
            Line($"- per {grid}: weights only {100 * weightsOnly:F2} % ({100 * (weightsOnly - floatFull):+0.00;-0.00} points), " +
                $"weights + activations {100 * both:F2} % ({100 * (both - floatFull):+0.00;-0.00} points)");
        }

        Line($"\nAccuracy (%) on {subsetText} (float32 {100 * floatSubset:F2} %), bytes, tiles:\n");
        Line($"| bits | grid | weights only | weights + 8-bit act. | unfolded weights (in the file) | quantised sparse | its gzip | tiles (empty) |");
        Line($"|--:|---|--:|--:|--:|--:|--:|--:|");
        foreach (int bits in Bits)
            foreach (bool perChannel in new[] { false, true })
            {
                var settings = new WeightQuantizationSettings { Bits = bits, PerChannel = perChannel, Scale = ScaleMethod.Mse };
                var prepared = PostTrainingQuantization.Prepare(model, settings);
                double weightsOnly = Accuracy(model, prepared, test, subset);
                double both = Accuracy(model, PostTrainingQuantization.Calibrate(model, prepared, activations, train), test, subset);
                var (unfolded, fileBytes, fileGzip) = Unfolded(path, info, settings, test, subset);
                var tiles = CrossbarReport.Measure(model, new CrossbarOptions { LevelBits = bits }).Total;
                string grid = perChannel ? "channel" : "tensor";
                Line($"| {bits} | per {grid} | {100 * weightsOnly:F2} | {100 * both:F2} | {100 * unfolded:F2} | {fileBytes:N0} | {fileGzip:N0} | {tiles.Tiles:N0} ({tiles.EmptyTiles:N0}) |");
            }

        Line($"\n8-bit per-channel weights, 8-bit activations calibrated on 1,000 training samples, by observer ({subsetText}):\n");
        foreach (var observer in Enum.GetValues<ObserverKind>().Where(o => o != ObserverKind.MovingAverage)) // that one is QAT's, not a calibration
        {
            var prepared = PostTrainingQuantization.Prepare(model, new WeightQuantizationSettings { PerChannel = true, Scale = ScaleMethod.Mse });
            var plan = PostTrainingQuantization.Calibrate(model, prepared, activations with { Observer = observer }, train);
            Line($"- {plan.ActivationSettings!.Describe()}: {100 * Accuracy(model, plan, test, subset):F2} % (float {100 * floatSubset:F2} %)");
        }

        var qdq = PostTrainingQuantization.Quantize(model, new WeightQuantizationSettings { PerChannel = true, Scale = ScaleMethod.Mse }, activations, train);
        Line($"\nONNX Runtime 1 thread, all graph optimisations, median ms per batch (float32 graph vs QDQ graph of 8-bit per-channel weights and activations):\n");
        foreach (int batch in new[] { 1, 64 })
        {
            var (f, q) = Latency(model, info.Spec, qdq, batch);
            Line($"- batch {batch}: float32 {f:F3} ms, QDQ {q:F3} ms ({f / q:F2}×)");
        }
        byte[] qdqBytes = OnnxWriter.ToBytes(OnnxExport.Build(model, info.Spec, qdq));
        byte[] floatOnnx = OnnxWriter.ToBytes(OnnxExport.Build(model, info.Spec));
        Line($"- ONNX files: float32 {floatOnnx.Length:N0} bytes, QDQ {qdqBytes.Length:N0} bytes");

        Line($"\nCrossbar device variation (8-bit levels, 128×128 tiles, 5 draws, {subsetText}):\n");
        foreach (double sigma in new[] { 0.05, 0.1, 0.2 })
        {
            var r = CrossbarVariation.Evaluate(model, test, new CrossbarOptions(), sigma, draws: 5, seed: 0, indices: subset);
            Line($"- σ = {sigma}: {100 * r.Mean:F2} ± {100 * r.Std:F2} % (noiseless {100 * r.Noiseless:F2} %)");
        }
        Line($"\n({name}: {clock.Elapsed.TotalMinutes:F1} min)");
        model.Dispose();
    }

    private static void Line(string text) => Console.WriteLine(text);

    private static double Accuracy(nn.Module<Tensor, Tensor> model, QuantizedModel plan, ImageDataset test, int[]? subset)
    {
        using var forward = new FakeQuantForward(model, plan);
        return Evaluator.Evaluate(model, test, indices: subset).Accuracy;
    }

    /// <summary>The checkpoint's own weights quantised in place (BatchNorm not folded), as a sparse file stores them.</summary>
    private static (double Accuracy, long Bytes, long Gzip) Unfolded(string path, CheckpointInfo info, WeightQuantizationSettings settings, ImageDataset test, int[]? subset)
    {
        var (copy, _) = Checkpoint.Load(path);
        using (copy)
        {
            IReadOnlyDictionary<string, TensorQuantization> grids = WeightQuantizer.QuantizeWeights(copy, settings);
            byte[] file = SparseFile.Build(info, ModelState.Read(copy), grids).Bytes;
            return (Evaluator.Evaluate(copy, test, indices: subset).Accuracy, file.Length, Gzip(file));
        }
    }

    private static long Gzip(byte[] bytes)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(bytes);
        return compressed.Length;
    }

    /// <summary>Median ms per batch of the float32 and the QDQ graph, timed alternately so load from other jobs falls on both.</summary>
    private static (double Float, double Qdq) Latency(nn.Module<Tensor, Tensor> model, ModelSpec spec, QuantizedModel qdq, int batch)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var floatSession = new InferenceSession(OnnxWriter.ToBytes(OnnxExport.Build(model, spec)), options);
        using var qdqSession = new InferenceSession(OnnxWriter.ToBytes(OnnxExport.Build(model, spec, qdq)), options);
        manual_seed(0);
        using var x = randn([batch, .. spec.InputShape.Select(d => (long)d)]);
        using var input = OrtValue.CreateTensorValueFromMemory(TensorData.Floats(x), x.shape);
        using var run = new RunOptions();
        string[] inputs = [OnnxExport.InputName], outputs = [OnnxExport.OutputName];
        int runs = batch == 1 ? 200 : 20;
        var times = new List<double>[] { [], [] };
        var sessions = new[] { floatSession, qdqSession };
        for (int i = 0; i < runs + 5; i++)
            for (int s = 0; s < 2; s++)
            {
                var sw = Stopwatch.StartNew();
                using (sessions[s].Run(run, inputs, [input], outputs)) { }
                if (i >= 5) times[s].Add(sw.Elapsed.TotalMilliseconds);
            }
        return (Median(times[0]), Median(times[1]));
    }

    private static double Median(List<double> xs)
    {
        var sorted = xs.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
