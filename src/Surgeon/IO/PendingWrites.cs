namespace Surgeon.IO;

/// <summary>Something on disk that a run has started but not finished: temporary files, a folder lock.</summary>
internal interface IPendingWrite
{
    /// <summary>Removes what is unfinished (temporary files, folders made for it that are still empty).</summary>
    void Abandon();
}

/// <summary>
/// Every unfinished write of this process (file sets not yet committed, folder locks held), so that a run stopped
/// by a signal (Ctrl-C, SIGTERM) removes them before it exits: <see cref="AbandonAll"/>. Renames into place happen
/// under <see cref="Gate"/>, so a signal either waits for a commit to finish (or be undone) or comes before it.
/// </summary>
internal static class PendingWrites
{
    internal static readonly object Gate = new();
    private static readonly List<IPendingWrite> Open = [];

    /// <summary>True once <see cref="AbandonAll"/> ran: no commit may start after it.</summary>
    public static bool Abandoned { get; private set; }

    internal static void Add(IPendingWrite write)
    {
        lock (Gate) Open.Add(write);
    }

    internal static void Remove(IPendingWrite write)
    {
        lock (Gate) Open.Remove(write);
    }

    /// <summary>
    /// Removes every unfinished write (newest first) and refuses commits from then on; the caller is about to exit.
    /// A commit running on another thread finishes (or is undone) first. Finished files, and the points a sweep has
    /// journaled, are kept.
    /// </summary>
    public static void AbandonAll()
    {
        lock (Gate)
        {
            Abandoned = true;
            for (int i = Open.Count - 1; i >= 0; i--)
            {
                try { Open[i].Abandon(); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
            Open.Clear();
        }
    }

    /// <summary>Called under <see cref="Gate"/> before a commit: after <see cref="AbandonAll"/> the process is exiting,
    /// so the committing thread waits for that instead of writing (or failing with a second message).</summary>
    internal static void BlockIfAbandoned()
    {
        if (Abandoned) Thread.Sleep(Timeout.Infinite);
    }
}
