using System.Diagnostics;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Progress;
using Surgeon.Pruning;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// A progress reporter that attributes the peak resident set to the phase that reached it: at every task start and end
/// it reads the peak since the previous event (VmHWM), charges it to the phase that was running, and resets the peak.
/// Phases are named by the task descriptions the library reports (per-sample gradients, factorisation, CBS-S, ...);
/// outside every task, by the last info line before the peak (its text up to the first colon).
/// </summary>
internal sealed class PhaseMemoryProgress(double baselineMiB) : IProgressReporter
{
    /// <summary>What one measured run gave: its seconds, the baseline resident set (MiB), the peak above it per phase
    /// (in the order the phases first ran) and the library's info lines.</summary>
    public sealed record Run(double Seconds, double BaselineMiB, List<(string Phase, double PeakMiB)> Peaks, List<string> Messages);

    /// <summary>
    /// Runs <paramref name="method"/> on <paramref name="model"/> as <c>prune</c> does (seed 0) and measures it: the GC
    /// run and free heap pages returned, the baseline read and the peak reset, then the run with its peak charged to the
    /// phases; the context's cached Fisher is released after. With <paramref name="restoreModel"/> the weights are put
    /// back afterwards (the snapshot is taken after the baseline, so its copy counts in the peak).
    /// </summary>
    public static Run MeasurePrune(PruningMethod method, nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        ImageDataset data, PruningOptions options, double sparsity, double keptFraction = 1, bool restoreModel = false)
    {
        GC.Collect();
        Measure.TrimNativeHeap();
        double baseline = Measure.CurrentRssMiB();
        Measure.ResetPeakRss();
        var phases = new PhaseMemoryProgress(baseline);
        var context = new PruningContext
        {
            Model = model,
            Parameters = parameters,
            TrainData = data,
            Seed = 0,
            Progress = phases,
            Options = options,
            KeptFraction = keptFraction,
        };
        using var snapshot = restoreModel ? new Training.ModelSnapshot(model) : null;
        var clock = Stopwatch.StartNew();
        using (method.Prune(context, sparsity)) { }
        double seconds = clock.Elapsed.TotalSeconds;
        var peaks = phases.Peaks().ToList();
        context.ReleaseCache();
        snapshot?.Restore();
        return new Run(seconds, baseline, peaks, phases.Messages);
    }

    private readonly Stack<string> running = new();
    private readonly Dictionary<string, double> peaks = [];
    private readonly List<string> order = [];

    public IProgressTask Start(string description, double total)
    {
        Charge();
        running.Push(Phase(description));
        return new Task(this);
    }

    /// <summary>The library's info lines (the printed memory estimate among them).</summary>
    public List<string> Messages { get; } = [];

    public void Info(string message)
    {
        // Outside every task, the info lines mark the steps: the peak since the last one is charged to it.
        if (running.Count == 0) Charge();
        lastInfo = Phase(message.Split(':')[0]);
        Messages.Add(message);
    }

    private string lastInfo = "start";

    /// <summary>Peak MiB above the baseline per phase, in the order the phases first ran.</summary>
    public IEnumerable<(string Phase, double PeakMiB)> Peaks()
    {
        Charge();
        return order.Select(p => (p, peaks[p]));
    }

    private void Charge()
    {
        string phase = running.Count > 0 ? running.Peek() : $"between phases, after '{lastInfo}'";
        double peak = Measure.PeakRssMiB() - baselineMiB;
        if (!peaks.TryGetValue(phase, out double old)) { order.Add(phase); old = double.NegativeInfinity; }
        peaks[phase] = Math.Max(old, peak);
        Measure.ResetPeakRss();
    }

    /// <summary>The description up to its first colon or comma: "CBS-S: iteration 3, …" and "CBS-S: scoring …" stay apart.</summary>
    private static string Phase(string description)
    {
        int cut = description.IndexOfAny([',', '(']);
        return (cut > 0 ? description[..cut] : description).Trim();
    }

    private sealed class Task(PhaseMemoryProgress owner) : IProgressTask
    {
        public string Description { set { } }
        public void Advance(double amount = 1) { }
        public void Dispose()
        {
            owner.Charge();
            owner.running.Pop();
        }
    }
}
