using System.Text.Json;
using System.Text.Json.Serialization;

namespace Surgeon.Export;

/// <summary>
/// How the sparse header and the safetensors metadata write a checkpoint's description (the sidecar's fields, camelCase)
/// and read it back strictly: a missing required field, a null where none belongs or an unknown field is an error.
/// </summary>
internal static class InfoJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Encoder = Encoder,
    };

    /// <summary>Escapes only what JSON requires (quotes as \", not \u0022): these files are never embedded in HTML.</summary>
    public static System.Text.Encodings.Web.JavaScriptEncoder Encoder => System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>A JSON exception's message on one line.</summary>
    public static string Message(JsonException e) => e.Message.Replace('\n', ' ').Replace('\r', ' ');
}
