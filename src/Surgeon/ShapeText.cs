namespace Surgeon;

/// <summary>A tensor shape as people read it in messages: "40×784", or "a scalar" for the empty shape.</summary>
internal static class ShapeText
{
    public static string Of(IEnumerable<long> shape) => shape.Any() ? string.Join('×', shape) : "a scalar";
}
