using System.Diagnostics;
using Surgeon.Progress;

namespace Surgeon.Cli;

/// <summary>
/// Progress bars on standard error. On a terminal one line is redrawn in place (bar, percentage, elapsed, ETA);
/// when standard error is redirected (CI, logs) the state is printed as a plain line at most every few seconds.
/// Info lines go to standard error too, so standard output carries only results.
/// </summary>
public sealed class ConsoleProgress : IProgressReporter
{
    private readonly TextWriter err = Console.Error;
    private readonly bool interactive = !Console.IsErrorRedirected;
    private readonly object gate = new();
    private readonly bool quiet;
    private Bar? current;

    public ConsoleProgress(bool quiet = false) => this.quiet = quiet;

    public IProgressTask Start(string description, double total)
    {
        lock (gate)
        {
            var bar = new Bar(this, description, total, current);
            current = bar;
            return bar;
        }
    }

    public void Info(string message)
    {
        if (quiet) return;
        lock (gate)
        {
            ClearLine();
            err.WriteLine(message);
            current?.Draw(force: true);
        }
    }

    private void ClearLine()
    {
        if (interactive && current is not null)
            err.Write("\r\u001b[2K");
    }

    private sealed class Bar(ConsoleProgress owner, string description, double total, Bar? parent) : IProgressTask
    {
        private readonly Stopwatch clock = Stopwatch.StartNew();
        private double done;
        private string text = description;
        private long lastDrawMs = -10_000;

        public string Description
        {
            set { lock (owner.gate) { text = value; Draw(force: false); } }
        }

        public void Advance(double amount = 1)
        {
            lock (owner.gate) { done += amount; Draw(force: false); }
        }

        public void Draw(bool force)
        {
            if (owner.quiet || owner.current != this) return;
            long now = clock.ElapsedMilliseconds;
            long interval = owner.interactive ? 100 : 5_000;
            // On a terminal the finished bar is drawn at once; in a log only every few seconds (Dispose says when it is done).
            if (!force && now - lastDrawMs < interval && (!owner.interactive || done < total)) return;
            lastDrawMs = now;
            double fraction = total > 0 ? Math.Clamp(done / total, 0, 1) : 0;
            string eta = fraction > 0.001 ? Format(TimeSpan.FromMilliseconds(now * (1 - fraction) / fraction)) : "?";
            string line = $"{Render(fraction)} {fraction,4:P0} {text}  [{Format(clock.Elapsed)} elapsed, ETA {eta}]";
            if (owner.interactive)
            {
                int width = Math.Max(40, SafeWidth() - 1);
                if (line.Length > width) line = line[..width];
                owner.err.Write("\r\u001b[2K" + line);
            }
            else
            {
                owner.err.WriteLine(line);
            }
        }

        public void Dispose()
        {
            lock (owner.gate)
            {
                if (owner.current != this) return;
                if (!owner.quiet && owner.interactive)
                    owner.err.Write("\r\u001b[2K");
                if (!owner.quiet)
                    owner.err.WriteLine($"{text}: done in {Format(clock.Elapsed)}");
                owner.current = parent;
            }
        }

        private static string Render(double fraction)
        {
            const int cells = 24;
            int filled = (int)Math.Round(fraction * cells);
            return "[" + new string('#', filled) + new string('-', cells - filled) + "]";
        }

        private static string Format(TimeSpan t) =>
            t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";

        private static int SafeWidth()
        {
            try { return Console.WindowWidth > 0 ? Console.WindowWidth : 120; }
            catch (IOException) { return 120; }
        }
    }
}
