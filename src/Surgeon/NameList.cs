namespace Surgeon;

/// <summary>
/// Tensor names in one-line messages: a short list, and how a file's tensors differ by name from a model's state
/// (shared by the checkpoint weights file and the exported state files).
/// </summary>
internal static class NameList
{
    /// <summary>The first <paramref name="show"/> names, then how many more.</summary>
    public static string Of(IReadOnlyList<string> names, int show = 3) =>
        string.Join(", ", names.Take(show)) + (names.Count > show ? $" and {names.Count - show} more" : "");

    /// <summary>The names the model expects that the file lacks (missing) and the file's names the model does not
    /// have (unexpected), each in its own order.</summary>
    public static (IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected) Differences(
        IEnumerable<string> expected, IReadOnlyList<string> actual)
    {
        var expectedSet = expected.ToList();
        var have = actual.ToHashSet(StringComparer.Ordinal);
        var want = expectedSet.ToHashSet(StringComparer.Ordinal);
        return (expectedSet.Where(n => !have.Contains(n)).ToList(), actual.Where(n => !want.Contains(n)).ToList());
    }

    /// <summary>"unexpected a, b; missing c" (the parts that are not empty).</summary>
    public static string DescribeDifferences(IReadOnlyList<string> missing, IReadOnlyList<string> unexpected) =>
        string.Join("; ", new[]
        {
            unexpected.Count > 0 ? $"unexpected {Of(unexpected)}" : null,
            missing.Count > 0 ? $"missing {Of(missing)}" : null,
        }.Where(s => s is not null));
}
