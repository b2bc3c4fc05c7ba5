using System.Text.Json;
using System.Text.Json.Serialization;

namespace Surgeon.Export;

/// <summary>
/// How the sparse header and the safetensors metadata write a checkpoint's description (the sidecar's fields, camelCase)
/// and read it back strictly: a missing required field, a null where none belongs or an unknown field is an error. A loss
/// that is not finite is written as "Infinity" / "NaN", like every Surgeon JSON file (see <see cref="IO.JsonNumbers"/>).
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
        NumberHandling = IO.JsonNumbers.Handling,
        Encoder = Encoder,
    };

    /// <summary>The checkpoint description <paramref name="info"/> as this JSON, refused (before anything is written) when
    /// no checkpoint can hold it (<see cref="Training.CheckpointInfo.Problem"/>); <paramref name="target"/> names the file.</summary>
    public static string Serialize(Training.CheckpointInfo info, string target) =>
        info.Problem() is { } problem
            ? throw new SurgeonException($"cannot write {target}: the model description is impossible: {problem}")
            : JsonSerializer.Serialize(info, Options);

    /// <summary>Escapes only what JSON requires (quotes as \", not \u0022): these files are never embedded in HTML.</summary>
    public static System.Text.Encodings.Web.JavaScriptEncoder Encoder => System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;

    /// <summary>A JSON exception's message on one line.</summary>
    public static string Message(JsonException e) => IO.JsonErrors.OneLine(e);
}
