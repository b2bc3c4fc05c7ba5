using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Surgeon.IO;

/// <summary>
/// How every JSON file Surgeon writes and reads (checkpoint sidecar, sweep.json, points.jsonl, the sparse header and the
/// safetensors metadata) holds numbers that are not finite, which JSON itself cannot. One kind of value may legitimately
/// be one: a measured loss (a pruned model whose logits overflow float32 has loss +∞, or NaN when they are +∞ and −∞ at
/// once). It is written as the JSON string "Infinity", "-Infinity" or "NaN" (System.Text.Json's named floating-point
/// literals), and every Surgeon reader accepts those strings there. Every other number (accuracy, sparsity, width,
/// time) must be finite and in its range: a writer refuses the record with a one-line error before it writes anything,
/// and a reader refuses the file, naming it (and the line, for a journal). The checks below return the problem as text
/// (null when there is none), so writers and readers phrase their own message around it.
/// </summary>
internal static class JsonNumbers
{
    /// <summary>The number handling of every Surgeon JSON writer and reader.</summary>
    public const JsonNumberHandling Handling = JsonNumberHandling.AllowNamedFloatingPointLiterals;

    /// <summary>A copy of <paramref name="options"/> with <see cref="Handling"/>.</summary>
    public static JsonSerializerOptions With(JsonSerializerOptions options) => new(options) { NumberHandling = Handling };

    /// <summary>A number as the files and messages write it (round-trip precision, invariant culture).</summary>
    public static string Text(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A fraction in [0, 1] (accuracy), or in [0, 1) with <paramref name="belowOne"/> (a requested sparsity).</summary>
    public static string? Fraction(string name, double value, bool belowOne = false) =>
        double.IsFinite(value) && value >= 0 && (belowOne ? value < 1 : value <= 1)
            ? null
            : $"{name} is {Text(value)}, not a fraction in [0, 1{(belowOne ? ")" : "]")}";

    /// <summary>A cross-entropy: never negative; +∞ and NaN are results (a model whose outputs overflow).</summary>
    public static string? Loss(string name, double value) =>
        double.IsNaN(value) || value >= 0 ? null : $"{name} is {Text(value)}, but a loss is never negative";

    /// <summary>A finite number ≥ 0 (a duration).</summary>
    public static string? NonNegative(string name, double value) =>
        double.IsFinite(value) && value >= 0 ? null : $"{name} is {Text(value)}, not a finite number ≥ 0";

    /// <summary>A finite number &gt; 0 (a width multiplier).</summary>
    public static string? Positive(string name, double value) =>
        double.IsFinite(value) && value > 0 ? null : $"{name} is {Text(value)}, not a finite number > 0";

    /// <summary>The first problem of several checks, or null.</summary>
    public static string? First(params string?[] problems) => problems.FirstOrDefault(p => p is not null);
}
