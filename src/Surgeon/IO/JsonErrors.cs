using System.Text.Json;

namespace Surgeon.IO;

/// <summary>System.Text.Json's error messages as error messages here need them: on one line.</summary>
internal static class JsonErrors
{
    /// <summary>A JSON exception's message on one line (it can quote the offending text, line breaks and all).</summary>
    public static string OneLine(JsonException e) => e.Message.Replace('\n', ' ').Replace('\r', ' ');
}
