using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Surgeon.Tests.Cli;

/// <summary>Runs the surgeon CLI as a child process, so a native abort shows as a crash and not as a dead test host.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Bad input's contract: exit code 2 and one <c>error:</c> line containing <paramref name="expected"/>, no stack trace.</summary>
    public static void AssertCleanError(Result r, string expected)
    {
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    /// <summary>The user and group an unprivileged child runs as when the tests run as root: Debian's "nobody".</summary>
    internal const int UnprivilegedId = 65534;

    public static Result Run(string workingDirectory, params string[] args) => Wait(Process.Start(StartInfo(workingDirectory, args))!, args);

    /// <summary>Runs the CLI with some environment variables set (e.g. a PATH without or with a stand-in sbatch).</summary>
    public static Result RunWith(IReadOnlyDictionary<string, string> environment, string workingDirectory, params string[] args)
    {
        var psi = StartInfo(workingDirectory, args);
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        return Wait(Process.Start(psi)!, args);
    }

    /// <summary>
    /// Runs the CLI as a user whom file permissions bind, so that a file made unreadable (chmod 000) really cannot be
    /// read. A user they already bind gets a plain child. Root (CI runs as root) is not bound by them, so the child is
    /// started through util-linux's <c>setpriv</c> as uid/gid 65534 with no supplementary groups, HOME and
    /// DOTNET_CLI_HOME in a fresh temporary folder it may write; <paramref name="workingDirectory"/> is opened to it
    /// (mode 0777: the command must fail on the unreadable input, not on a folder it may not write). Every folder from
    /// the root down to the working folder, the built CLI and the .NET runtime must be searchable by others; if one is
    /// not, this throws naming it rather than letting the child fail for that reason.
    /// </summary>
    public static Result RunUnprivileged(string workingDirectory, params string[] args)
    {
        if (OperatingSystem.IsWindows() || PermissionsBind.Value)
            return Run(workingDirectory, args);

        string setpriv = Setpriv.Value
            ?? throw new InvalidOperationException("the tests run as a user whom chmod 000 does not stop (root), and util-linux's setpriv, " +
                "needed to run the CLI as another user, was not found on PATH; install util-linux");
        foreach (string path in new[] { workingDirectory, AppContext.BaseDirectory, RuntimeEnvironment.GetRuntimeDirectory() })
            RequireSearchableByOthers(path);

        string home = Directory.CreateTempSubdirectory("surgeon-unprivileged-home-").FullName;
        try
        {
            File.SetUnixFileMode(home, (UnixFileMode)0b111_111_111);
            File.SetUnixFileMode(workingDirectory, (UnixFileMode)0b111_111_111);
            var psi = StartInfo(workingDirectory, args);
            psi.FileName = setpriv;
            string[] drop = [$"--reuid={UnprivilegedId}", $"--regid={UnprivilegedId}", "--clear-groups", "--", "dotnet"];
            for (int i = 0; i < drop.Length; i++)
                psi.ArgumentList.Insert(i, drop[i]); // setpriv … -- dotnet Surgeon.Cli.dll args
            psi.Environment["HOME"] = home;
            psi.Environment["DOTNET_CLI_HOME"] = home;
            return Wait(Process.Start(psi)!, args);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
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

    /// <summary>Whether this process is stopped by a file's permissions (false for root, or anyone with
    /// CAP_DAC_OVERRIDE): probed on a real file, as that is what the unreadable-input cases rely on.</summary>
    internal static readonly Lazy<bool> PermissionsBind = new(() =>
    {
        if (OperatingSystem.IsWindows()) return true; // no Unix modes to bypass
        string probe = Path.Combine(Path.GetTempPath(), $"surgeon-perm-{Guid.NewGuid():N}");
        File.WriteAllText(probe, "x");
        try
        {
            File.SetUnixFileMode(probe, UnixFileMode.None);
            try { File.ReadAllText(probe); return false; }
            catch (UnauthorizedAccessException) { return true; }
        }
        finally
        {
            File.Delete(probe);
        }
    });

    private static readonly Lazy<string?> Setpriv = new(() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, "setpriv"))
            .FirstOrDefault(File.Exists));

    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "Surgeon.Cli.dll");

    /// <summary>Throws unless every folder from the root down to <paramref name="path"/> lets others search it.</summary>
    private static void RequireSearchableByOthers(string path)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(path)); dir is not null; dir = dir.Parent)
            if ((dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
                throw new InvalidOperationException($"{dir.FullName} is not searchable by other users (mode {Convert.ToString((int)dir.UnixFileMode, 8)}), " +
                    $"so the CLI cannot run as uid {UnprivilegedId} from {path}; run the tests from a folder others can reach");
    }

    private static Result Wait(Process p, string[] args)
    {
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"surgeon {string.Join(' ', args)} did not finish in 3 minutes");
            }
            return new Result(p.ExitCode, stdout.Result, stderr.Result);
        }
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
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("SURGEON_DEBUG");
        return psi;
    }
}
