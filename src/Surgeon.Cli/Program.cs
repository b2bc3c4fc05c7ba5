using System.CommandLine;
using Surgeon.Cli.Commands;

namespace Surgeon.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
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
            DemoCommand.Create(),
            DataCommand.Create(),
            PlotDynamicsCommand.Create(),
            ExportCommand.Create(),
            BenchModelCommand.Create(),
            ReportCommand.Create(),
            ImportCommand.Create(),
            MethodsCommand.Create(),
        };
        root.Options.Add(new System.CommandLine.Help.HelpOption { Recursive = true });
        root.SetAction(_ => { Console.Error.WriteLine("error: no command given; run 'surgeon --help' to see the commands"); return 2; });
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
