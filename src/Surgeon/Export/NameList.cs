namespace Surgeon.Export;

/// <summary>Tensor names in a one-line message: the first few, then how many more.</summary>
internal static class NameList
{
    public static string Of(IReadOnlyList<string> names, int show = 3) =>
        string.Join(", ", names.Take(show)) + (names.Count > show ? $" and {names.Count - show} more" : "");
}
