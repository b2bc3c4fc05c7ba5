using Surgeon.Pruning;
using System.Text;
using System.Text.Json;
using Surgeon.IO;

namespace Surgeon.Reports;

/// <summary>What a journal holds: its lines (key and point, in file order) and, when its last line was cut short by a
/// crash, a warning saying that line was ignored (null otherwise).</summary>
internal sealed record JournalContents(IReadOnlyList<(string Key, SweepPoint Point)> Lines, string? Warning);

/// <summary>
/// The finished points of a sweep as JSON Lines, appended and flushed to disk as soon as each point is done, so a
/// sweep that is interrupted (crash, kill, power) keeps its work and a rerun of the same sweep skips those points.
/// Each line carries a key of everything the result depends on (checkpoint hash, data, options); lines with another
/// key are another sweep's. Reading is strict: a line that does not parse or holds an impossible point (see
/// <see cref="SweepPoint.Problem"/>) is an error naming the file and line, except the last line when it has no newline
/// (a write cut short by a crash), which is ignored with a warning and removed by the next <see cref="Append"/>.
/// Many processes may append to one journal (the workers of a planned sweep, on one machine or over shared storage)
/// when each gives the same <c>lockPath</c>: each append then holds an exclusive OS lock on it while it repairs a cut
/// last line and writes its whole line, so lines never interleave or overwrite each other, and a writer that dies
/// mid-line loses only that line. A one-process sweep holds its whole folder (<see cref="IO.FolderLock"/>) and needs none.
/// </summary>
internal sealed class SweepJournal(string path, string key, string? lockPath = null)
{
    private static readonly JsonSerializerOptions Json = JsonNumbers.With(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        // A line lacking a field of the point, or with null where a value belongs, is not one this class wrote.
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    });

    private sealed record Line(string Key, SweepPoint Point);

    public string Path => path;

    /// <summary>How long an append waits for another process's append (each takes milliseconds) before failing.</summary>
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(2);

    /// <summary><see cref="Load"/> while holding the append lock, so a line another process is writing is never read half-written.</summary>
    public (IReadOnlyList<SweepPoint> Points, string? Warning) LoadLocked()
    {
        using var held = lockPath is null ? null : ExclusiveFileLock.Acquire(lockPath, LockTimeout);
        return Load();
    }

    /// <summary>The points of this journal's key, and the warning of <see cref="ReadAll"/> (null when there is none).</summary>
    public (IReadOnlyList<SweepPoint> Points, string? Warning) Load()
    {
        if (!File.Exists(path)) return ([], null);
        var contents = ReadAll(path);
        return (contents.Lines.Where(l => l.Key == key).Select(l => l.Point).ToList(), contents.Warning);
    }

    /// <summary>
    /// Every line of the journal at <paramref name="journalPath"/> with its key, in file order; <see cref="Load"/> keeps
    /// the lines of one key, a report rebuilt from the file picks its own. Blank lines are skipped.
    /// </summary>
    /// <exception cref="SurgeonException">A line (other than a last one without newline) does not parse or holds an
    /// impossible point; the message is "PATH:LINE: why".</exception>
    public static JournalContents ReadAll(string journalPath)
    {
        byte[] bytes = Surgeon.IO.InputFiles.ReadAllBytes(journalPath, "sweep journal");
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        var lines = new List<(string, SweepPoint)>();
        string? warning = null;
        // Line by line, so a byte that is not UTF-8 is reported with its line like any other damage. Splitting gives
        // an empty last row after a final newline; a non-empty last row had its newline cut off.
        var rows = new List<(int Start, int Length)>();
        for (int start = 0; ;)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', start);
            rows.Add((start, (end < 0 ? bytes.Length : end) - start));
            if (end < 0) break;
            start = end + 1;
        }
        int skip = bytes.AsSpan().StartsWith(utf8.Preamble) ? utf8.Preamble.Length : 0;
        for (int i = 0; i < rows.Count; i++)
        {
            var (start, length) = i == 0 ? (rows[0].Start + skip, rows[0].Length - skip) : rows[i];
            string? row = null;
            try { row = utf8.GetString(bytes, start, length).TrimEnd('\r'); }
            catch (DecoderFallbackException) { }
            if (row is not null && string.IsNullOrWhiteSpace(row)) continue;
            var (line, problem) = row is null ? (null, "not UTF-8 text") : Parse(row);
            if (problem is null)
            {
                lines.Add((line!.Key, line.Point));
                continue;
            }
            if (i == rows.Count - 1)
            {
                warning = $"{journalPath}:{i + 1}: ignored the last line, which was cut short (a sweep killed while writing it?): {problem}";
                continue;
            }
            throw new SurgeonException($"{journalPath}:{i + 1}: {problem}; each line is one finished point of 'surgeon sweep' " +
                "(delete a damaged line and a rerun of the sweep recomputes that point)");
        }
        return new JournalContents(lines, warning);
    }

    /// <summary>The line's key and point, or what is wrong with it.</summary>
    private static (Line? Line, string? Problem) Parse(string text)
    {
        Line? line;
        try
        {
            line = JsonSerializer.Deserialize<Line>(text, Json);
        }
        catch (JsonException e)
        {
            return (null, $"not a journal line ({IO.JsonErrors.OneLine(e)})");
        }
        if (line?.Point is null || line.Key is null)
            return (null, "not a journal line (it lacks the key or the point)");
        return line.Point.Problem() is { } problem ? (null, $"an impossible point, {line.Point.Describe()}: {problem}") : (line, null);
    }

    /// <summary>Appends <paramref name="point"/> as one line and flushes it to disk. An impossible point (see
    /// <see cref="SweepPoint.Problem"/>) is refused before anything is written.</summary>
    public void Append(SweepPoint point)
    {
        if (point.Problem() is { } problem)
            throw new SurgeonException($"cannot record {point.Describe()} in {path}: {problem}");
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Line(key, point), Json) + "\n");
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        using var held = lockPath is null ? null : ExclusiveFileLock.Acquire(lockPath, LockTimeout);
        using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        RepairCutLastLine(stream);
        stream.Seek(0, SeekOrigin.End);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>
    /// A last line without a newline was cut short by a kill mid-write: when it is a whole valid line (only the newline
    /// was lost) it gets its newline; otherwise it is removed, so the new point does not follow a damaged line (which a
    /// later read would refuse) and is not glued to it.
    /// </summary>
    private static void RepairCutLastLine(FileStream stream)
    {
        long length = stream.Length;
        if (length == 0) return;
        stream.Seek(-1, SeekOrigin.End);
        if (stream.ReadByte() == '\n') return;
        // Find the start of the last line (after the last newline, or the file's start).
        long start = length;
        var one = new byte[1];
        while (start > 0)
        {
            stream.Seek(start - 1, SeekOrigin.Begin);
            stream.ReadExactly(one);
            if (one[0] == '\n') break;
            start--;
        }
        var tail = new byte[length - start];
        stream.Seek(start, SeekOrigin.Begin);
        stream.ReadExactly(tail);
        string? text = null;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(tail); }
        catch (DecoderFallbackException) { }
        if (text is not null && Parse(text.TrimEnd('\r')).Problem is null)
        {
            stream.Seek(0, SeekOrigin.End);
            stream.WriteByte((byte)'\n');
        }
        else
        {
            stream.SetLength(start);
        }
    }
}
