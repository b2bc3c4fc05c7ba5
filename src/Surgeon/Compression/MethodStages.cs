using static TorchSharp.torch;

namespace Surgeon.Compression;

/// <summary>What a stage of a pruning method needs before it can run (listed by <c>surgeon methods</c>).</summary>
[Flags]
public enum StageNeeds
{
    /// <summary>Needs nothing but the weights.</summary>
    None = 0,
    /// <summary>Training samples.</summary>
    Data = 1,
    /// <summary>Loss gradients (backward passes).</summary>
    Gradients = 2,
    /// <summary>Hessian-vector products (double backward).</summary>
    HessianProducts = 4,
    /// <summary>Per-sample gradients and the empirical Fisher F = GᵀG/N.</summary>
    Fisher = 8,
    /// <summary>A model with filter groups (the conv models), whose filters can be removed.</summary>
    FilterGroups = 16,
}

/// <summary>
/// One stage of a pruning method (a score, a rule, a joint selection or an update): its registry name, a line saying
/// what it does, what it needs, and a check that fails before any work when the context cannot give it that.
/// </summary>
public interface IMethodStage
{
    /// <summary>The registry name (used in method names such as <c>name@rule+update</c>).</summary>
    string Name { get; }
    /// <summary>One line saying what the stage does (listed by <c>surgeon methods</c>).</summary>
    string Description { get; }
    /// <summary>What the stage needs before it can run.</summary>
    StageNeeds Needs { get; }

    /// <summary>Throws a one-line <see cref="SurgeonException"/> when this stage cannot run on <paramref name="context"/>;
    /// computes nothing.</summary>
    void Check(PruningContext context)
    {
        if (Needs.HasFlag(StageNeeds.Data) && context.TrainData is null && context.ScoreData is null)
            throw new SurgeonException($"{Name} needs training data; pass --data");
    }
}

/// <summary>How a score's raw per-weight values become one score per output filter (slice c along dim 0).</summary>
public enum FilterAggregation
{
    /// <summary>Σ|v| over the filter (loss-preservation Σ|θ·ḡ|, biased loss Σ|θ²·ḡ|, SNIP, SynFlow).</summary>
    AbsThenSum,
    /// <summary>|Σv| over the filter (first-order Taylor |Σθ·ḡ|, gradient-norm preservation |Σθ·Hḡ|).</summary>
    SumThenAbs,
    /// <summary>Σv, signed (GraSP Σθ·Hḡ; Fisher Σθ²E[g²] and the WoodFisher saliency, non-negative anyway).</summary>
    Sum,
    /// <summary>‖v‖₂ over the filter (magnitude, v = θ).</summary>
    L2Norm,
    /// <summary>‖v‖₁ over the filter (L1, v = θ).</summary>
    L1Norm,
    /// <summary>|γ_c| of the group's BatchNorm scales: the raw values are the norm parameters, not the producers.</summary>
    NormScale,
}

/// <summary>
/// A score: for named parameters of the context's model, raw per-weight values (shaped like each parameter), and how
/// they aggregate per filter. Convention everywhere: higher means more important, i.e. kept; rules prune the lowest.
/// The per-weight score is |v| where the aggregation takes an absolute value or a norm, v itself for the signed sums.
/// </summary>
public interface IScore : IMethodStage
{
    /// <summary>How the raw per-weight values become one score per filter.</summary>
    FilterAggregation Aggregation { get; }

    /// <summary>False for scores defined per filter only (BatchNorm scale).</summary>
    bool ScoresWeights => Aggregation != FilterAggregation.NormScale;

    /// <summary>
    /// Raw values of the named parameters (names as in <c>named_parameters</c>), detached, shaped like each parameter,
    /// created in the caller's dispose scope. The model's weights, buffers and train/eval mode are left as they were.
    /// </summary>
    IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames);
}

/// <summary>How much a rule or selection prunes: the fraction <see cref="Sparsity"/> of its units (weights or filters),
/// or, when <see cref="Count"/> is set, exactly that many (weights already pruned included).</summary>
public sealed record PruneTarget(double Sparsity, long? Count = null)
{
    /// <summary>k out of <paramref name="units"/>: <see cref="Count"/>, or ⌊s·units⌋ with the checks of <see cref="SparsityTarget"/>.</summary>
    public long CountOf(long units) => Count ?? SparsityTarget.PruneCount(Sparsity, units);
}

/// <summary>What a rule decided: a keep-mask over the context's prunable weights, or (filter rules) a smaller model.</summary>
/// <param name="Keep">Flat bool keep-mask in <see cref="PrunableParameters"/> order; null when filters were removed.</param>
/// <param name="Model">The model with the filters removed (null for weight rules, which change no shape).</param>
/// <param name="MaskedChannels">Per non-removable filter group, every channel now masked (zero) instead of removed.</param>
/// <param name="Sparsity">The fraction of the rule's units now pruned.</param>
public sealed record RuleOutcome(Tensor? Keep, nn.Module<Tensor, Tensor>? Model = null,
    IReadOnlyDictionary<string, long[]>? MaskedChannels = null, double Sparsity = double.NaN);

/// <summary>
/// A rule turns a score and a target into what is pruned: global top-k, layer-wise top-k, per filter (later N:M,
/// per-layer ratios, ℓ0 solvers: each one file). Weights the context already pruned (<see cref="PruningContext.Mask"/>,
/// <see cref="PruningContext.MaskedChannels"/>) stay pruned and count toward the target.
/// </summary>
public interface IRule : IMethodStage
{
    /// <summary>True when the rule removes whole filters (and so changes the model's shape) instead of single weights.</summary>
    bool PrunesFilters { get; }

    /// <summary>Chooses what to prune from <paramref name="score"/> to reach <paramref name="target"/>.</summary>
    RuleOutcome Select(PruningContext context, IScore score, PruneTarget target);
}

/// <summary>A joint selection chooses the pruned set directly from the problem (CBS-S), where per-weight scores alone do
/// not decide: returns a flat keep-mask (true = kept) over the context's prunable weights.</summary>
public interface IJointSelection : IMethodStage
{
    /// <summary>The keep-mask (flat bool, true = kept) over the context's prunable weights that reaches <paramref name="target"/>.</summary>
    Tensor SelectKeep(PruningContext context, PruneTarget target);
}

/// <summary>An update changes the kept weights to compensate for the pruned ones (pruned weights must end exactly zero).</summary>
public interface IWeightUpdate : IMethodStage
{
    /// <summary>Moves the kept weights (<paramref name="keep"/>: flat bool keep-mask) to compensate for the pruned ones; pruned weights end exactly zero.</summary>
    void Update(PruningContext context, Tensor keep);
}
