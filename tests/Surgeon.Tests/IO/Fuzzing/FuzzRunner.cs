using System.Diagnostics;

namespace Surgeon.Tests.IO.Fuzzing;

/// <summary>What a fuzz run of one format saw: inputs tried and loaded, the failures, the slowest case and the largest
/// allocation (managed bytes, as GC.GetAllocatedBytesForCurrentThread counts them on the thread that loads).</summary>
public sealed class FuzzStats(string format)
{
    public string Format { get; } = format;
    public long Tried { get; set; }
    public long Loaded { get; set; }
    public List<string> Failures { get; } = [];
    public double SlowestMs { get; set; }
    public long LargestAllocation { get; set; }
    public Dictionary<string, int> Refusals { get; } = [];
}

/// <summary>
/// Runs mutated seeds through each format's load and holds every load to the contract: it either succeeds with a valid
/// result or throws <see cref="SurgeonException"/>; never another exception type, never longer than the time bound,
/// never more managed allocation than the format's factor times the input plus a constant. Each case runs on its own
/// thread, so the allocation count is the load's own and a hang is reported instead of blocking the run. (A native crash
/// ends the process: the test run or the benchmark fails with it.)
/// </summary>
public static class FuzzRunner
{
    /// <summary>Allocation every load may make whatever its input (a model built, a few buffers).</summary>
    public const long AllocationAllowance = 32L << 20;

    /// <summary>Cases <paramref name="firstCase"/> … of the run seeded with <paramref name="seed"/>, until
    /// <paramref name="maxCases"/> (counted from case 0) or <paramref name="maxTime"/>.</summary>
    public static FuzzStats Run(FuzzFormats formats, FuzzFormat format, ulong seed, long maxCases, TimeSpan maxTime, TimeSpan caseTimeout,
        long firstCase = 0)
    {
        var stats = new FuzzStats(format.Name);
        var clock = Stopwatch.StartNew();
        for (long i = firstCase; i < maxCases && clock.Elapsed < maxTime; i++)
        {
            var plan = FileMutator.Plan(seed, i);
            byte[] seedBytes = format.Seeds[(int)(i % format.Seeds.Count)];
            byte[] input = FileMutator.Apply(seedBytes, plan.Mutations);
            if (plan.Reseal && format.Reseal is not null) input = format.Reseal(input);
            string where = $"{format.Name} case {i} (seed {seed}, input {i % format.Seeds.Count}: {FileMutator.Describe(plan)})";
            Exception? error = null;
            long allocated = 0;
            var caseClock = Stopwatch.StartNew();
            var worker = new Thread(() =>
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                try { formats.Load(format, input, (int)(i % format.Seeds.Count)); }
                catch (Exception e) { error = e; }
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }, maxStackSize: 16 << 20);
            worker.Start();
            if (!worker.Join(caseTimeout))
            {
                stats.Failures.Add($"{where}: did not finish in {caseTimeout.TotalSeconds:F0} s (a hang?)");
                stats.Tried++;
                break; // the thread cannot be stopped; the run ends here
            }
            double ms = caseClock.Elapsed.TotalMilliseconds;
            stats.Tried++;
            stats.SlowestMs = Math.Max(stats.SlowestMs, ms);
            stats.LargestAllocation = Math.Max(stats.LargestAllocation, allocated);
            long bound = format.AllocationFactor * input.LongLength + AllocationAllowance;
            if (error is null) stats.Loaded++;
            else if (error is SurgeonException s)
            {
                string kind = Kind(s.Message);
                stats.Refusals[kind] = stats.Refusals.GetValueOrDefault(kind) + 1;
                if (s.Message.Contains('\n')) stats.Failures.Add($"{where}: a message of several lines: {s.Message}");
            }
            else stats.Failures.Add($"{where}: {error.GetType().Name}: {error.Message.Split('\n')[0]}\n{error.StackTrace}");
            if (allocated > bound)
                stats.Failures.Add($"{where}: allocated {allocated:N0} bytes, more than the bound {bound:N0} for {input.Length} input bytes");
        }
        return stats;
    }

    /// <summary>A refusal's message without paths and numbers, to count the kinds of refusal seen.</summary>
    private static string Kind(string message)
    {
        var words = message.Split(' ').Where(w => !w.Contains('/') && !w.Any(char.IsDigit)).Take(8);
        return string.Join(' ', words);
    }
}
