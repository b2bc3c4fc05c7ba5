namespace Surgeon.Progress;

/// <summary>
/// How the library reports long work without writing to the console: the CLI renders tasks as progress bars and
/// info lines as text; tests and library users can pass <see cref="NullProgress.Instance"/>.
/// </summary>
public interface IProgressReporter
{
    IProgressTask Start(string description, double total);
    void Info(string message);
}

public interface IProgressTask : IDisposable
{
    string Description { set; }
    void Advance(double amount = 1);
}

public sealed class NullProgress : IProgressReporter, IProgressTask
{
    public static readonly NullProgress Instance = new();
    public IProgressTask Start(string description, double total) => this;
    public void Info(string message) { }
    public string Description { set { } }
    public void Advance(double amount = 1) { }
    public void Dispose() { }
}

/// <summary>Collects info lines; handy in tests.</summary>
public sealed class RecordingProgress : IProgressReporter
{
    public List<string> Messages { get; } = [];
    public IProgressTask Start(string description, double total) { Messages.Add($"start: {description}"); return NullProgress.Instance; }
    public void Info(string message) => Messages.Add(message);
}
