using Surgeon.Compression;

namespace Surgeon.Quantization;

/// <summary>How an activation's range is estimated from the calibration samples.</summary>
internal enum ObserverKind
{
    /// <summary>The smallest and largest value seen.</summary>
    MinMax,

    /// <summary>The p-th and (100 − p)-th percentiles of all values seen (nearest rank), clipping the tails.</summary>
    Percentile,

    /// <summary>The clipping range with the least squared quantisation error (<see cref="ClippingSearch"/>) on the values seen.</summary>
    Mse,

    /// <summary>An exponential moving average of each training batch's min and max, tracked by quantisation-aware
    /// training (not a calibration observer).</summary>
    MovingAverage,
}

/// <summary>
/// Activation quantisation: the input of every Conv2d and Linear layer gets one b-bit grid (asymmetric by default, so
/// a ReLU's output uses all codes), calibrated on <see cref="CalibrationSamples"/> training samples drawn with
/// <see cref="Seed"/>.
/// </summary>
internal sealed record ActivationQuantizationSettings
{
    public int Bits { get; init; } = 8;
    public bool Symmetric { get; init; }
    public ObserverKind Observer { get; init; } = ObserverKind.MinMax;

    /// <summary>p for <see cref="ObserverKind.Percentile"/>, in [90, 100] (the observer keeps the top (100 − p) % of the values).</summary>
    public double Percentile { get; init; } = 99.99;

    public int CalibrationSamples { get; init; } = 1000;
    public int Seed { get; init; }
    public int BatchSize { get; init; } = 100;

    /// <summary>G for the <see cref="ObserverKind.Mse"/> search.</summary>
    public int MseGridPoints { get; init; } = 100;

    /// <summary>The <see cref="ObserverKind.Mse"/> observer searches on every s-th value, s chosen so at most this many are kept per layer.</summary>
    public int MseSampleBudget { get; init; } = 1 << 20;

    public void Validate()
    {
        if (Bits is < TensorQuantization.MinBits or > TensorQuantization.MaxBits)
            throw new SurgeonException($"activation bits must be in {TensorQuantization.MinBits}..{TensorQuantization.MaxBits}, got {Bits}");
        if (CalibrationSamples < 1)
            throw new SurgeonException($"the calibration needs at least 1 sample, got {CalibrationSamples}");
        if (!(Percentile >= 90 && Percentile <= 100))
            throw new SurgeonException($"the percentile observer's p must be in [90, 100], got {Percentile}");
        if (BatchSize < 1)
            throw new SurgeonException($"the calibration batch size must be ≥ 1, got {BatchSize}");
        if (MseGridPoints < 1 || MseSampleBudget < 1)
            throw new SurgeonException($"the MSE observer needs at least 1 grid point and 1 sampled value, got {MseGridPoints} and {MseSampleBudget}");
    }

    /// <summary>An observer for one layer's input, which will see <paramref name="totalValues"/> values in all.</summary>
    public IActivationObserver CreateObserver(long totalValues) => Observer switch
    {
        ObserverKind.MinMax => new MinMaxObserver(),
        ObserverKind.Percentile => new PercentileObserver(Percentile, totalValues),
        ObserverKind.Mse => new MseObserver(totalValues, MseSampleBudget, MseGridPoints),
        ObserverKind.MovingAverage => throw new SurgeonException("moving-average ranges are tracked by quantisation-aware training, not calibrated; use minmax, percentile or mse"),
        _ => throw new ArgumentOutOfRangeException(nameof(Observer)),
    };

    public string Describe() =>
        $"{Bits}-bit {(Symmetric ? "symmetric" : "asymmetric")} activations, " +
        (Observer switch
        {
            ObserverKind.MinMax => "min-max",
            ObserverKind.Percentile => $"{Percentile:G6}th percentile",
            ObserverKind.MovingAverage => "moving-average min-max tracked while training",
            _ => "MSE",
        }) + (Observer == ObserverKind.MovingAverage ? "" : $" on {CalibrationSamples} samples");
}
