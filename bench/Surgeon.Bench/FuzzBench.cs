using System.Diagnostics;
using System.Globalization;
using Surgeon.Tests.IO.Fuzzing;

namespace Surgeon.Bench;

/// <summary>
/// The file fuzz tests (tests/Surgeon.Tests/IO/Fuzzing) run for longer: every format Surgeon reads, its valid seeds
/// mutated (random mutations drawn by CsCheck generators from a seeded PCG, not coverage-guided), each load held to
/// "a valid result or a SurgeonException, within a time and an allocation bound". The formats take turns in slices of a
/// few seconds until the time or the case count is used up. Prints per format the inputs tried, loaded and refused,
/// the failures (0 expected), the slowest case, the largest allocation and inputs per second, then every failure.
/// Options: --seconds N (default 600), --cases N per format (default: no limit), --seed N (default 1).
/// </summary>
internal static class FuzzBench
{
    public static int Run(string[] args)
    {
        double seconds = 600;
        long cases = long.MaxValue;
        ulong seed = 1;
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--seconds" when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) && seconds > 0: i++; break;
                case "--cases" when long.TryParse(value, out cases) && cases > 0: i++; break;
                case "--seed" when ulong.TryParse(value, out seed): i++; break;
                default:
                    Console.Error.WriteLine($"fuzz: unknown or bad option '{args[i]}' (use --seconds N, --cases N, --seed N)");
                    return 2;
            }
        }
        string folder = Path.Combine(Path.GetTempPath(), "surgeon-fuzz-bench-" + Environment.ProcessId);
        using var formats = new FuzzFormats(folder);
        var totals = formats.Formats.ToDictionary(f => f.Name, f => new FuzzStats(f.Name));
        var busy = formats.Formats.ToDictionary(f => f.Name, _ => TimeSpan.Zero);
        var clock = Stopwatch.StartNew();
        var budget = TimeSpan.FromSeconds(seconds);
        var slice = TimeSpan.FromSeconds(Math.Clamp(seconds / formats.Formats.Count / 10, 0.5, 5));
        Console.WriteLine($"fuzzing {formats.Formats.Count} formats for {seconds:F0} s (seed {seed}; random mutations, not coverage-guided)");
        bool more = true;
        while (more && clock.Elapsed < budget)
        {
            more = false;
            foreach (var format in formats.Formats)
            {
                var total = totals[format.Name];
                if (total.Tried >= cases || clock.Elapsed >= budget) continue;
                var sliceClock = Stopwatch.StartNew();
                // Each slice continues the case numbering, so the run as a whole is one sequence per format.
                var stats = FuzzRunner.Run(formats, format, seed, cases, slice, TimeSpan.FromSeconds(60), firstCase: total.Tried);
                busy[format.Name] += sliceClock.Elapsed;
                Merge(total, stats);
                more |= total.Tried < cases;
                if (stats.Failures.Any(f => f.Contains("did not finish", StringComparison.Ordinal))) { more = false; break; }
            }
        }
        Console.WriteLine($"{"format",-20} {"tried",10} {"loaded",9} {"refused",9} {"failures",9} {"slowest ms",11} {"largest alloc",14} {"inputs/s",9}");
        foreach (var s in totals.Values)
            Console.WriteLine($"{s.Format,-20} {s.Tried,10:N0} {s.Loaded,9:N0} {s.Tried - s.Loaded - s.Failures.Count,9:N0} {s.Failures.Count,9} {s.SlowestMs,11:F1} {s.LargestAllocation / 1048576.0,10:F2} MiB {s.Tried / busy[s.Format].TotalSeconds,9:F0}");
        long tried = totals.Values.Sum(s => s.Tried), failures = totals.Values.Sum(s => s.Failures.Count);
        Console.WriteLine($"total: {tried:N0} inputs in {clock.Elapsed.TotalSeconds:F0} s ({tried / clock.Elapsed.TotalSeconds:F0} inputs/s), {failures} failures");
        foreach (var s in totals.Values)
            Console.WriteLine($"{s.Format}: refusals by kind: " + string.Join("; ", s.Refusals.OrderByDescending(kv => kv.Value).Take(6).Select(kv => $"{kv.Value}× \"{kv.Key}\"")));
        foreach (var failure in totals.Values.SelectMany(s => s.Failures))
            Console.WriteLine("FAILURE " + failure);
        return failures == 0 ? 0 : 1;
    }

    private static void Merge(FuzzStats total, FuzzStats part)
    {
        total.Tried += part.Tried;
        total.Loaded += part.Loaded;
        total.Failures.AddRange(part.Failures);
        total.SlowestMs = Math.Max(total.SlowestMs, part.SlowestMs);
        total.LargestAllocation = Math.Max(total.LargestAllocation, part.LargestAllocation);
        foreach (var (kind, count) in part.Refusals) total.Refusals[kind] = total.Refusals.GetValueOrDefault(kind) + count;
    }
}
