using System.Diagnostics;
using System.Globalization;
using Surgeon.Data;
using Surgeon.Numerics;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// What <see cref="NativeHeap.KeepSlack"/> buys: ResNet-20's evaluation forward (docs/cbs-resnet20, 320 Fashion-MNIST
/// training images in chunks of 16, as CBS-S's real loss runs it) timed with glibc's default heap, then again in the same
/// process after the top padding is set; wall ms, process CPU ms and minor page faults per pass, and the logits compared.
/// Run it first or alone: the other benches set the padding at start. SURGEON_BENCH_REPEATS (default 3).
/// </summary>
internal static class HeapSlackBench
{
    public static void Run()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        int repeats = int.TryParse(Environment.GetEnvironmentVariable("SURGEON_BENCH_REPEATS"), out int r) ? r : 3;
        var (model, _) = Checkpoint.Load("docs/cbs-resnet20/resnet20-fashion.ckpt", CPU);
        var (train, _) = DatasetCatalog.Load(DatasetCatalog.FashionMnist);
        var (x, _) = train.Batch(Enumerable.Range(0, 320).ToArray());
        model.eval();
        using var noGrad = no_grad();
        Console.WriteLine($"threads {get_num_threads()}, load {Measure.LoadAverage()}");
        Console.WriteLine("| heap | pass | wall ms | CPU ms | minor faults |");
        Console.WriteLine("|---|---|---|---|---|");
        Tensor? reference = null;
        var means = new List<(string Heap, double Wall, double Cpu, double Faults)>();
        foreach (string heap in new[] { "glibc default", $"top pad {NativeHeap.TopPadBytes >> 20} MiB" })
        {
            if (heap != "glibc default" && !NativeHeap.KeepSlack()) { Console.WriteLine("(mallopt refused: not glibc?)"); return; }
            double wall = 0, cpu = 0, faults = 0;
            for (int pass = 0; pass < repeats; pass++)
            {
                var process = Process.GetCurrentProcess();
                long f0 = Measure.MinorFaults();
                var c0 = process.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                var logits = EvalForward.Logits(model, x);
                double w = clock.Elapsed.TotalMilliseconds;
                process.Refresh();
                double c = (process.TotalProcessorTime - c0).TotalMilliseconds;
                long f = Measure.MinorFaults() - f0;
                Console.WriteLine($"| {heap} | {pass + 1} | {w:F0} | {c:F0} | {f:N0} |");
                wall += w; cpu += c; faults += f;
                if (reference is null) reference = logits;
                else using (logits) if (logits.sub(reference).abs().max().item<float>() != 0) Console.WriteLine("(logits differ from the first pass!)");
            }
            means.Add((heap, wall / repeats, cpu / repeats, faults / repeats));
        }
        Console.WriteLine($"mean per pass: {string.Join("; ", means.Select(m => $"{m.Heap} {m.Wall:F0} ms wall, {m.Cpu:F0} ms CPU, {m.Faults:N0} faults"))}; " +
            $"default / padded CPU {means[0].Cpu / means[1].Cpu:F1}×; load {Measure.LoadAverage()}");
    }
}
