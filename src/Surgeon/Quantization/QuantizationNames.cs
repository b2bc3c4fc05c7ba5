namespace Surgeon.Quantization;

/// <summary>The names of scale methods and observers on the command line, in recipes and in sidecars.</summary>
internal static class QuantizationNames
{
    public static string Of(ScaleMethod scale) => scale == ScaleMethod.Mse ? "mse" : "minmax";

    public static string Of(ObserverKind observer) => observer switch
    {
        ObserverKind.MinMax => "minmax",
        ObserverKind.Percentile => "percentile",
        ObserverKind.MovingAverage => "ema",
        _ => "mse",
    };

    public static ScaleMethod Scale(string name) => name.Trim().ToLowerInvariant() switch
    {
        "minmax" or "min-max" => ScaleMethod.MinMax,
        "mse" => ScaleMethod.Mse,
        _ => throw new SurgeonException($"unknown scale method '{name}': use minmax or mse"),
    };

    public static ObserverKind Observer(string name) => name.Trim().ToLowerInvariant() switch
    {
        "minmax" or "min-max" => ObserverKind.MinMax,
        "percentile" => ObserverKind.Percentile,
        "mse" => ObserverKind.Mse,
        "ema" => ObserverKind.MovingAverage,
        _ => throw new SurgeonException($"unknown observer '{name}': use minmax, percentile or mse"),
    };
}
