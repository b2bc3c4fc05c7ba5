namespace Surgeon.Modifiers;

/// <summary>What the straight-through gradient of an auxiliary multiplies the loss gradient by in place of ∂(w·h(m))/∂h.</summary>
internal enum AutoPruneSte
{
    /// <summary>sgn(w): the paper's proposed rule, so the auxiliaries' updates do not scale with the weights' magnitudes.</summary>
    Sign,

    /// <summary>w itself: the plain chain rule through w·h(m).</summary>
    Weight,
}

/// <summary>The surrogate for h′(m), the derivative of the step h(m) = [m &gt; 0], in the backward pass.</summary>
internal enum AutoPruneSurrogate
{
    /// <summary>h′ ≈ 1 everywhere (the identity straight-through estimator).</summary>
    Identity,

    /// <summary>h′ ≈ 1 for m &gt; 0 and α for m ≤ 0 (a leaky-ReLU derivative): pruned weights move back more slowly.</summary>
    Leaky,
}

/// <summary>The sparsity regulariser λ·R(m) on the auxiliaries.</summary>
internal enum AutoPruneRegularizer
{
    /// <summary>R = Σ h(m), the number of kept units, differentiated with the same surrogate h′ (a constant push down).</summary>
    Mask,

    /// <summary>R = Σ |m| (gradient sgn m: pulls m towards 0 from both sides).</summary>
    L1,

    /// <summary>R = ½ Σ m² (gradient m).</summary>
    L2,
}

/// <summary>
/// The settings of AutoPrune (Xiao, Wang &amp; Rajasekaran, NeurIPS 2019): every unit (a weight, or a filter) gets an
/// auxiliary m, initialised to <see cref="Init"/> &gt; 0 so that all start kept; the forward pass uses w·h(m); m is
/// trained by its own SGD (rate <see cref="LearningRate"/>, momentum <see cref="Momentum"/>) on the loss through the
/// straight-through gradient plus λ·R(m).
/// </summary>
internal sealed record AutoPruneOptions
{
    /// <summary>True: one auxiliary per filter (output channel of a removable filter group); false: one per weight.</summary>
    public bool PerFilter { get; init; }
    public double Lambda { get; init; } = 1e-4;
    public AutoPruneRegularizer Regularizer { get; init; } = AutoPruneRegularizer.Mask;
    public AutoPruneSte Ste { get; init; } = AutoPruneSte.Sign;
    public AutoPruneSurrogate Surrogate { get; init; } = AutoPruneSurrogate.Leaky;
    /// <summary>α, the slope of the leaky surrogate for m ≤ 0.</summary>
    public double Leak { get; init; } = 0.1;
    /// <summary>The auxiliaries' own learning rate (their optimiser is separate from the weights').</summary>
    public double LearningRate { get; init; } = 1;
    public double Momentum { get; init; }
    /// <summary>The auxiliaries' initial value m₀ &gt; 0 (every unit starts kept).</summary>
    public double Init { get; init; } = 0.01;

    /// <summary>Throws a one-line error for a value outside its range (field names as in a recipe).</summary>
    public void Validate()
    {
        if (!(Lambda >= 0) || double.IsInfinity(Lambda))
            throw new SurgeonException($"lambda must be a finite number ≥ 0, got {Lambda}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate))
            throw new SurgeonException($"aux-lr must be a finite number > 0, got {LearningRate}");
        if (!(Momentum >= 0 && Momentum < 1))
            throw new SurgeonException($"aux-momentum must be in [0, 1), got {Momentum}");
        if (!(Init > 0) || double.IsInfinity(Init))
            throw new SurgeonException($"aux-init must be a finite number > 0 (every unit starts kept), got {Init}");
        if (!(Leak > 0 && Leak <= 1))
            throw new SurgeonException($"leak must be in (0, 1], got {Leak}");
    }

    public static AutoPruneSte ParseSte(string text) => text.Trim().ToLowerInvariant() switch
    {
        "sign" or "sgn" => AutoPruneSte.Sign,
        "weight" or "w" => AutoPruneSte.Weight,
        _ => throw new SurgeonException($"'{text}' is not a straight-through rule: use sign (sgn(w), the paper's) or weight (w)"),
    };

    public static AutoPruneSurrogate ParseSurrogate(string text) => text.Trim().ToLowerInvariant() switch
    {
        "identity" => AutoPruneSurrogate.Identity,
        "leaky" => AutoPruneSurrogate.Leaky,
        _ => throw new SurgeonException($"'{text}' is not a surrogate for h′: use identity or leaky"),
    };

    public static AutoPruneRegularizer ParseRegularizer(string text) => text.Trim().ToLowerInvariant() switch
    {
        "mask" => AutoPruneRegularizer.Mask,
        "l1" => AutoPruneRegularizer.L1,
        "l2" => AutoPruneRegularizer.L2,
        _ => throw new SurgeonException($"'{text}' is not a regulariser: use mask (Σ h(m)), l1 (Σ|m|) or l2 (½Σm²)"),
    };

    public override string ToString() =>
        $"per {(PerFilter ? "filter" : "weight")}, λ {Lambda:G4} ({Regularizer.ToString().ToLowerInvariant()}), ste {Ste.ToString().ToLowerInvariant()}, " +
        $"h′ {Surrogate.ToString().ToLowerInvariant()}{(Surrogate == AutoPruneSurrogate.Leaky ? $" α {Leak:G3}" : "")}, aux lr {LearningRate:G4}, m₀ {Init:G4}";
}
