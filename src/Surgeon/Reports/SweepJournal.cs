using Surgeon.Pruning;
using System.Text;
using System.Text.Json;

namespace Surgeon.Reports;

/// <summary>
/// The finished points of a sweep as JSON Lines, appended and flushed to disk as soon as each point is done, so a
/// sweep that is interrupted (crash, kill, power) keeps its work and a rerun of the same sweep skips those points.
/// Each line carries a key of everything the result depends on (checkpoint hash, data, options); lines with another
/// key, and a last line cut short by a crash, are ignored.
/// </summary>
public sealed class SweepJournal(string path, string key)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private sealed record Line(string Key, SweepPoint Point);

    public string Path => path;

    public IReadOnlyList<SweepPoint> Load() =>
        File.Exists(path) ? ReadAll(path).Where(l => l.Key == key).Select(l => l.Point).ToList() : [];

    /// <summary>
    /// Every readable line of the journal at <paramref name="journalPath"/> with its key, in file order (a line cut short
    /// by a crash is skipped). <see cref="Load"/> keeps the lines of one key; a report rebuilt from the file picks its own.
    /// </summary>
    public static IReadOnlyList<(string Key, SweepPoint Point)> ReadAll(string journalPath)
    {
        var lines = new List<(string, SweepPoint)>();
        foreach (var text in File.ReadLines(journalPath))
        {
            if (string.IsNullOrWhiteSpace(text)) continue;
            Line? line;
            try { line = JsonSerializer.Deserialize<Line>(text, Json); }
            catch (JsonException) { continue; } // a line cut short by a crash
            if (line?.Point is not null && line.Key is not null)
                lines.Add((line.Key, line.Point));
        }
        return lines;
    }

    public void Append(SweepPoint point)
    {
        string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        // A line cut short by a kill mid-write has no newline: start a fresh line, or this point would be glued to it and lost.
        var bytes = Encoding.UTF8.GetBytes((EndsMidLine() ? "\n" : "") + JsonSerializer.Serialize(new Line(key, point), Json) + "\n");
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    private bool EndsMidLine()
    {
        if (!File.Exists(path)) return false;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (stream.Length == 0) return false;
        stream.Seek(-1, SeekOrigin.End);
        return stream.ReadByte() != '\n';
    }
}
