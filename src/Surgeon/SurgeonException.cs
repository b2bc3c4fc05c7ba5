namespace Surgeon;

/// <summary>
/// A problem with what the user asked for or gave us (a file, an option, a shape). Its message is one line that
/// names the problem and, where there is one, the fix; the CLI prints it without a stack trace.
/// </summary>
public class SurgeonException : Exception
{
    /// <summary>A one-line problem.</summary>
    public SurgeonException(string message) : base(message) { }
    /// <summary>A one-line problem caused by <paramref name="inner"/>.</summary>
    public SurgeonException(string message, Exception inner) : base(message, inner) { }
}
