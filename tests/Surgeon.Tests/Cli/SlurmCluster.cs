using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Surgeon.Tests.Cli;

/// <summary>
/// A real one-node Slurm cluster on localhost for a test: munged, slurmctld and slurmd started in the foreground as
/// child processes from a slurm.conf generated in a temporary folder (state, spool, logs and the munge key and socket
/// all inside it; no systemd; proctrack/linuxproc, task/none, select/cons_tres; ports picked free), stopped by their
/// process ids on dispose. The client commands reach it through SLURM_CONF. Runs as root (the daemons' user).
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    private readonly List<Process> daemons = [];

    public string Folder { get; } = Directory.CreateTempSubdirectory("slurm-cluster-").FullName;
    public string Conf => Path.Combine(Folder, "slurm.conf");
    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["SLURM_CONF"] = Conf };

    /// <summary>Why the cluster cannot run here (a binary missing, not root), or null when it can.</summary>
    public static string? Missing()
    {
        if (!OperatingSystem.IsLinux()) return "the real-Slurm tests run on Linux only";
        var missing = new[] { "munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel" }.Where(b => Which(b) is null).ToList();
        if (missing.Count > 0)
            return $"Slurm is not installed ({string.Join(", ", missing)} not found; on Debian: apt-get install slurm-wlm munge; test.sh does this)";
        if (System.Environment.UserName != "root") return "the real-Slurm tests start slurmd, which needs root";
        return null;
    }

    public SlurmCluster()
    {
        try
        {
            Start();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void Start()
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the real-Slurm tests run on Linux only");
        string munge = Path.Combine(Folder, "munge");
        Directory.CreateDirectory(munge);
        Directory.CreateDirectory(Path.Combine(Folder, "state"));
        Directory.CreateDirectory(Path.Combine(Folder, "spool"));
        File.SetUnixFileMode(Folder, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(munge, (UnixFileMode)0b111_101_101);
        string key = Path.Combine(munge, "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string socket = Path.Combine(munge, "munge.socket");
        Daemon("munged", "-F", "-f", $"--socket={socket}", $"--key-file={key}", $"--log-file={Path.Combine(munge, "munged.log")}",
            $"--pid-file={Path.Combine(munge, "munged.pid")}", $"--seed-file={Path.Combine(munge, "munged.seed")}");
        WaitFor(() => File.Exists(socket), "munged's socket");

        string host = Run("hostname", "-s").Trim();
        int ctldPort = FreePort(), dPort = FreePort();
        File.WriteAllText(Conf, $"""
            ClusterName=surgeontest
            SlurmctldHost={host}(127.0.0.1)
            SlurmUser=root
            SlurmdUser=root
            SlurmctldPort={ctldPort}
            SlurmdPort={dPort}
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={socket}
            StateSaveLocation={Folder}/state
            SlurmdSpoolDir={Folder}/spool
            SlurmctldPidFile={Folder}/slurmctld.pid
            SlurmdPidFile={Folder}/slurmd.pid
            SlurmctldLogFile={Folder}/slurmctld.log
            SlurmdLogFile={Folder}/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            SchedulerType=sched/backfill
            ReturnToService=2
            MpiDefault=none
            JobCompType=jobcomp/none
            AccountingStorageType=accounting_storage/none
            JobAcctGatherType=jobacct_gather/none
            InactiveLimit=0
            MinJobAge=600
            KillWait=5
            NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=8000 State=UNKNOWN
            PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP

            """);
        Daemon("slurmctld", "-D", "-f", Conf);
        Daemon("slurmd", "-D", "-f", Conf);
        WaitFor(() => Run("sinfo", "-h", "-o", "%t").Trim() is "idle" or "mix" or "alloc", "the node to be idle in sinfo", TimeSpan.FromSeconds(60));
    }

    /// <summary>Runs a Slurm client command against this cluster and returns its stdout (throws on a non-zero exit).</summary>
    public string Run(string command, params string[] args)
    {
        var psi = new ProcessStartInfo(Which(command) ?? command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SLURM_CONF"] = Conf;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromSeconds(30))) { p.Kill(); throw new TimeoutException($"{command} hung"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{command} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.Result;
    }

    /// <summary>Waits until no job of the cluster is pending or running (the report job included).</summary>
    public void WaitForIdleQueue(TimeSpan timeout) => WaitFor(() => Run("squeue", "-h").Trim().Length == 0, "the queue to empty", timeout);

    public string Logs() => string.Join("\n", new[] { "slurmctld.log", "slurmd.log" }.Select(f => Path.Combine(Folder, f))
        .Where(File.Exists).Select(f => $"--- {f}\n{string.Join('\n', File.ReadLines(f).TakeLast(30))}"));

    private void Daemon(string name, params string[] args)
    {
        var psi = new ProcessStartInfo(Which(name)!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SLURM_CONF"] = Conf;
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        daemons.Add(p);
    }

    private void WaitFor(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            try { if (condition()) return; }
            catch (InvalidOperationException) when (DateTime.UtcNow < deadline) { }
            var dead = daemons.FirstOrDefault(d => d.HasExited);
            if (dead is not null)
                throw new InvalidOperationException($"a Slurm daemon exited (code {dead.ExitCode}) while waiting for {what}\n{Logs()}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}\n{Logs()}");
            Thread.Sleep(200);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string? Which(string name) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin"]).Select(folder => Path.Combine(folder, name)).FirstOrDefault(File.Exists);

    /// <summary>Stops the daemons by their process ids (slurmd, slurmctld, munged), then removes the folder.</summary>
    public void Dispose()
    {
        foreach (var p in Enumerable.Reverse(daemons))
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill();
                    p.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        daemons.Clear();
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A fact that runs only where a real Slurm cluster can be started (see <see cref="SlurmCluster.Missing"/>), skipped with the reason elsewhere.</summary>
public sealed class SlurmFactAttribute : FactAttribute
{
    public SlurmFactAttribute()
    {
        if (SlurmCluster.Missing() is { } why) Skip = why;
    }
}
