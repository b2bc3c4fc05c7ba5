using System.Diagnostics;

namespace Surgeon.Bench;

/// <summary>Timing helpers: warm up, then the median of several runs.</summary>
internal static class Measure
{
    public static double MedianSeconds(Action action, int warmup = 2, int runs = 7)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }

    /// <summary>Resets the peak resident set size (VmHWM) to the current one (Linux: writing 5 to /proc/self/clear_refs).</summary>
    public static void ResetPeakRss()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Returns the native heap's free pages to the system (glibc malloc_trim), so that memory a previous run freed but
    /// the allocator kept does not count in the next run's baseline (and then hide part of its peak).
    /// </summary>
    public static void TrimNativeHeap()
    {
        try { MallocTrim(0); }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>Current resident set size (VmRSS) in MiB.</summary>
    public static double CurrentRssMiB() => StatusMiB("VmRSS:");

    /// <summary>Peak resident set size of this process so far (VmHWM), in MiB; 0 where /proc is not available.</summary>
    public static double PeakRssMiB() => StatusMiB("VmHWM:");

    private static double StatusMiB(string key)
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return 0;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return 0;
    }

    /// <summary>The 1, 5 and 15 minute load averages (/proc/loadavg), or "?" where there is none.</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    /// <summary>This process's minor page faults so far (/proc/self/stat, field 10).</summary>
    public static long MinorFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }
}
