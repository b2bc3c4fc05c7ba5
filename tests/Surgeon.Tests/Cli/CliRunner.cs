using System.Diagnostics;

namespace Surgeon.Tests.Cli;

/// <summary>Runs the surgeon CLI as a child process, so a native abort shows as a crash and not as a dead test host.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(string workingDirectory, params string[] args)
    {
        using var p = Process.Start(StartInfo(workingDirectory, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"surgeon {string.Join(' ', args)} did not finish in 3 minutes");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Starts the CLI and returns at once (its output is read and dropped, so it never blocks on a full pipe);
    /// the caller waits for it or kills it (<c>Kill(entireProcessTree: true)</c>) and disposes it.</summary>
    public static Process Start(string workingDirectory, params string[] args)
    {
        var p = Process.Start(StartInfo(workingDirectory, args))!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Starts the CLI with its stdout and stderr collected, for a caller that signals it and then reads what it said.</summary>
    public static (Process Process, Func<Result> Finish) StartCollecting(string workingDirectory, params string[] args)
    {
        var p = Process.Start(StartInfo(workingDirectory, args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        return (p, () =>
        {
            if (!p.WaitForExit(TimeSpan.FromMinutes(1)))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"surgeon {string.Join(' ', args)} did not exit within a minute");
            }
            return new Result(p.ExitCode, stdout.Result, stderr.Result);
        }
        );
    }

    /// <summary>Sends a POSIX signal (2 = SIGINT, 15 = SIGTERM) to a process, as Ctrl-C or kill would.</summary>
    public static void Signal(Process process, int signal)
    {
        if (Kill(process.Id, signal) != 0)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static ProcessStartInfo StartInfo(string workingDirectory, string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Surgeon.Cli.dll");
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("SURGEON_DEBUG");
        return psi;
    }
}
