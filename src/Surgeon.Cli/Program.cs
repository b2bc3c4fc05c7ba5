using System.CommandLine;
using System.Runtime.InteropServices;
using Surgeon.Cli.Commands;

namespace Surgeon.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Surgeon.Numerics.NativeHeap.Configure(); // libtorch's buffers reused and large ones on huge pages: far fewer page faults
        // A plain command named "surgeon" (not RootCommand, which takes the assembly's name) with a recursive --help.
        var root = new Command("surgeon",
            "Surgeon prunes neural networks: magnitude, WoodFisher and Combinatorial Brain Surgeon pruning, " +
            "sweeps of accuracy against sparsity, on real data (the embedded MNIST digits by default).")
        {
            TrainCommand.Create(),
            EvalCommand.Create(),
            PruneCommand.Create(),
            FinetuneCommand.Create(),
            SweepCommand.Create(),
            FisherCommand.Create(),
            DemoCommand.Create(),
            DataCommand.Create(),
            PlotDynamicsCommand.Create(),
            ExportCommand.Create(),
            BenchModelCommand.Create(),
            ReportCommand.Create(),
            ImportCommand.Create(),
            MethodsCommand.Create(),
            QuantizeCommand.Create(),
            FactorizeCommand.Create(),
            ContinualCommand.Create(),
        };
        root.Options.Add(new System.CommandLine.Help.HelpOption { Recursive = true });
        root.SetAction(_ => { Console.Error.WriteLine("error: no command given; run 'surgeon --help' to see the commands"); return 2; });
        // Ctrl-C (SIGINT) or SIGTERM mid-run: remove what is unfinished (temporary files, folders made for them, folder
        // locks; a sweep keeps its journaled points), say so in one line and exit with 128 + the signal number.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line naming the problem and where to look, instead of the full help text.
            string command = string.Join(' ', CommandPath(parsed.CommandResult));
            Console.Error.WriteLine($"error: {OneLine(parsed.Errors[0].Message)} (see '{command} --help')");
            return 2;
        }
        return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    private static int interrupted;

    private static void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // this handler ends the process itself, after the clean-up
        if (Interlocked.Exchange(ref interrupted, 1) == 1) return;
        bool sigint = context.Signal == PosixSignal.SIGINT;
        Surgeon.IO.PendingWrites.AbandonAll();
        Console.Error.WriteLine($"error: interrupted by {(sigint ? "SIGINT" : "SIGTERM")}; unfinished outputs were removed");
        Console.Error.Flush();
        // _exit, not Environment.Exit: the main thread may be inside libtorch, whose static destructors crash
        // (SIGSEGV, exit code 139) when they run under a thread still computing. Everything to keep is on disk.
        if (OperatingSystem.IsWindows()) Environment.Exit(sigint ? 130 : 143);
        ExitNow(sigint ? 130 : 143);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void ExitNow(int status);

    private static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult? result)
    {
        var names = new Stack<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Push(r.Command.Name);
        return names;
    }

    /// <summary>
    /// Runs a command body: a <see cref="SurgeonException"/> becomes one line on stderr and exit code 2; anything else
    /// one line and exit code 1 (the stack trace only with SURGEON_DEBUG=1).
    /// </summary>
    public static int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception) when (Volatile.Read(ref interrupted) == 1)
        {
            // The signal handler is cleaning up and will exit with its own line; whatever failed here failed because of it.
            Thread.Sleep(Timeout.Infinite);
            return 1;
        }
        catch (SurgeonException e)
        {
            Console.Error.WriteLine($"error: {OneLine(e.Message)}");
            return 2;
        }
        catch (UnauthorizedAccessException e)
        {
            // A file or folder the user may not read or write: their setup, not a bug.
            Console.Error.WriteLine($"error: {OneLine(e.Message)} (check its permissions)");
            return 2;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(Environment.GetEnvironmentVariable("SURGEON_DEBUG") == "1"
                ? $"internal error: {e}"
                : $"internal error: {e.GetType().Name}: {e.Message.Split('\n')[0]} (set SURGEON_DEBUG=1 for the stack trace)");
            return 1;
        }
    }

    /// <summary>A message on one line: line breaks (e.g. before System.CommandLine's suggestions) become ", " or " ".</summary>
    private static string OneLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var sb = new System.Text.StringBuilder(lines.FirstOrDefault() ?? "");
        for (int i = 1; i < lines.Length; i++)
            sb.Append(lines[i - 1][^1] is '?' or ':' or '.' or ';' or ',' ? " " : ", ").Append(lines[i]);
        return sb.ToString();
    }
}
