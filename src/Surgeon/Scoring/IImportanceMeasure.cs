using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>How a measure's raw per-weight values become one score per output filter (slice c along dim 0).</summary>
public enum FilterAggregation
{
    /// <summary>Σ|v| over the filter (loss-preservation Σ|θ·ḡ|, biased loss Σ|θ²·ḡ|, SNIP, SynFlow).</summary>
    AbsThenSum,
    /// <summary>|Σv| over the filter (first-order Taylor |Σθ·ḡ|, gradient-norm preservation |Σθ·Hḡ|).</summary>
    SumThenAbs,
    /// <summary>Σv, signed (GraSP Σθ·Hḡ; Fisher Σθ²E[g²], which is non-negative anyway).</summary>
    Sum,
    /// <summary>‖v‖₂ over the filter (magnitude, v = θ).</summary>
    L2Norm,
    /// <summary>‖v‖₁ over the filter (L1, v = θ).</summary>
    L1Norm,
    /// <summary>|γ_c| of the group's BatchNorm scales: the raw values are the norm parameters, not the producers.</summary>
    NormScale,
}

/// <summary>
/// An importance measure: for named parameters of a model it produces raw per-weight values (shaped like each
/// parameter) and says how they aggregate per filter. Convention everywhere: a higher score means more important,
/// i.e. kept; selection prunes the lowest.
/// </summary>
public interface IImportanceMeasure
{
    /// <summary>The registry name, e.g. "loss-preservation".</summary>
    string Name { get; }

    FilterAggregation Aggregation { get; }

    /// <summary>False for measures that read only the weights (magnitude, L1, BN scale) or no data (SynFlow).</summary>
    bool NeedsData { get; }

    /// <summary>
    /// Raw per-weight values of the named parameters (names as in <c>named_parameters</c>), detached, shaped like each
    /// parameter, created in the caller's dispose scope. The model's weights, buffers and train/eval mode are left
    /// as they were.
    /// </summary>
    IReadOnlyDictionary<string, Tensor> RawScores(nn.Module<Tensor, Tensor> model, IReadOnlyList<string> parameterNames,
        ScoringData? data);
}
