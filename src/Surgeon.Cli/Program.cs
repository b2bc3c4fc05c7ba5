using System.CommandLine;
using Surgeon.Cli.Commands;

namespace Surgeon.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand(
            "Surgeon prunes neural networks: magnitude, WoodFisher and Combinatorial Brain Surgeon pruning, " +
            "sweeps of accuracy against sparsity, on real data (the embedded MNIST digits by default).")
        {
            TrainCommand.Create(),
            EvalCommand.Create(),
            PruneCommand.Create(),
            SweepCommand.Create(),
            DemoCommand.Create(),
            DataCommand.Create(),
        };
        return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
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
            Console.Error.WriteLine($"error: {e.Message}");
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
}
