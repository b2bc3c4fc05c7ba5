namespace Surgeon.Progress;

/// <summary>
/// How the library reports long work without writing to the console: the CLI renders tasks as progress bars and
/// info lines as text; tests and library users can pass <see cref="NullProgress.Instance"/>.
/// </summary>
public interface IProgressReporter
{
    /// <summary>Starts a task of <paramref name="total"/> units (a progress bar on the command line).</summary>
    IProgressTask Start(string description, double total);
    /// <summary>A line of information.</summary>
    void Info(string message);
}

/// <summary>A running task: advance it, rename it, dispose it when done.</summary>
public interface IProgressTask : IDisposable
{
    /// <summary>What the task is doing now.</summary>
    string Description { set; }
    /// <summary>Advances by <paramref name="amount"/> units.</summary>
    void Advance(double amount = 1);
}

/// <summary>Reports nothing.</summary>
public sealed class NullProgress : IProgressReporter, IProgressTask
{
    /// <summary>The one instance.</summary>
    public static readonly NullProgress Instance = new();
    /// <summary>Returns itself.</summary>
    public IProgressTask Start(string description, double total) => this;
    /// <summary>Ignores the line.</summary>
    public void Info(string message) { }
    /// <summary>Ignored.</summary>
    public string Description { set { } }
    /// <summary>Ignored.</summary>
    public void Advance(double amount = 1) { }
    /// <summary>Nothing to release.</summary>
    public void Dispose() { }
}

/// <summary>Collects info lines; handy in tests.</summary>
internal sealed class RecordingProgress : IProgressReporter
{
    public List<string> Messages { get; } = [];
    public IProgressTask Start(string description, double total) { Messages.Add($"start: {description}"); return NullProgress.Instance; }
    public void Info(string message) => Messages.Add(message);
}
