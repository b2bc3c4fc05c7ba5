using static TorchSharp.torch;

namespace Surgeon.Compression;

/// <summary>
/// A pruning method: a score read by a rule (<c>score@rule</c>), or a joint selection, optionally followed by an update
/// of the kept weights (<c>+update</c>). Any score feeds any rule, any weight-level choice feeds any update.
/// <see cref="Name"/> is the name it was asked for (an alias such as <c>mp</c>, or <c>grasp@layer</c>).
/// </summary>
public sealed record PruningMethod
{
    /// <summary>A method from its stages: a score with a rule, or a joint selection, then optionally an update; <paramref name="description"/> defaults to the stages' own.</summary>
    public PruningMethod(string name, IScore? score, IRule? rule, IJointSelection? selection, IWeightUpdate? update,
        string? description = null)
    {
        if ((selection is null) == (score is null || rule is null))
            throw new ArgumentException("a method is a score with a rule, or a joint selection");
        Name = name;
        Score = score;
        Rule = rule;
        Selection = selection;
        Update = update;
        Description = description ?? Describe();
        Validate();
    }

    /// <summary>The name it was asked for (e.g. <c>mp</c>).</summary>
    public string Name { get; }
    /// <summary>What the method does, in one line.</summary>
    public string Description { get; }
    /// <summary>The score (null for a joint selection).</summary>
    public IScore? Score { get; }
    /// <summary>The rule (null for a joint selection).</summary>
    public IRule? Rule { get; }
    /// <summary>The joint selection (null for score@rule).</summary>
    public IJointSelection? Selection { get; }
    /// <summary>The update of the kept weights, if any.</summary>
    public IWeightUpdate? Update { get; }

    /// <summary>The method spelt out in the grammar, e.g. <c>magnitude@global</c> for <c>mp</c>.</summary>
    public string Canonical => (Selection?.Name ?? $"{Score!.Name}@{Rule!.Name}") + (Update is null ? "" : $"+{Update.Name}");

    /// <summary>The stages, in the order they run.</summary>
    public IEnumerable<IMethodStage> Stages =>
        new IMethodStage?[] { Score, Rule, Selection, Update }.Where(s => s is not null).Cast<IMethodStage>();

    /// <summary>What the stages need, together.</summary>
    public StageNeeds Needs => Stages.Aggregate(StageNeeds.None, (n, s) => n | s.Needs);

    /// <summary>True when the method removes whole filters (a smaller model) instead of single weights.</summary>
    public bool PrunesFilters => Rule?.PrunesFilters ?? false;

    /// <summary>The selection or the update uses the empirical Fisher (and so the training data).</summary>
    public bool UsesFisher => Stages.Any(s => s is IUsesFisher);

    /// <summary>Bytes per weight the stages hold beside the Fisher, summed: the selection's arrays may still be alive
    /// (or awaiting collection) while the update runs.</summary>
    internal int FisherBookkeepingBytesPerWeight => Stages.OfType<IUsesFisher>().Sum(s => s.BookkeepingBytesPerWeight);

    /// <summary>What the stages do with the Fisher beyond F·v products, together.</summary>
    internal FisherWork FisherWork => Stages.OfType<IUsesFisher>().Aggregate(FisherWork.Products, (all, s) => all | s.Work);

    /// <summary>The largest forward pass (in examples) a stage runs beside the Fisher.</summary>
    internal int LossEvaluationExamples(PruningOptions options) =>
        Stages.OfType<IUsesFisher>().Select(s => s.LossEvaluationExamples(options)).DefaultIfEmpty(0).Max();

    /// <summary>Throws a one-line error when the stages do not combine (known from the names alone).</summary>
    public void Validate()
    {
        if (Score is not null && Rule is not null)
        {
            if (!Score.ScoresWeights && !Rule.PrunesFilters)
                throw new SurgeonException($"{Name}: the score {Score.Name} is defined per filter only ({Score.Description}); use {Score.Name}@filter");
            if (Rule.PrunesFilters && Update is not null)
                throw new SurgeonException($"{Name}: the update {Update.Name} changes kept weights, but @{Rule.Name} removes whole filters; drop +{Update.Name}");
        }
    }

    /// <summary>Throws a one-line error when a stage cannot run on <paramref name="context"/> (no filter groups, no
    /// data, too few samples for the Fisher); computes nothing.</summary>
    public void Check(PruningContext context)
    {
        foreach (var stage in Stages)
        {
            try
            {
                stage.Check(context);
            }
            catch (SurgeonException e) when (!e.Message.StartsWith(Name + ":", StringComparison.Ordinal))
            {
                throw new SurgeonException($"{Name}: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Prunes the context's model to <paramref name="target"/>: selects, updates if the method has an update, and applies
    /// the mask so pruned weights are exact zeros; a filter rule builds a smaller model instead (the context's model is
    /// left as it was). Weights the context already pruned stay pruned. Weights that end NaN or infinite after pruning
    /// (an update that overflowed float32) are a <see cref="SurgeonException"/> naming the method and the options that
    /// cause it; the model's weights are then left as the update made them (callers restore or discard).
    /// </summary>
    public PruneResult Prune(PruningContext context, PruneTarget target)
    {
        SparsityTarget.Validate(target.Sparsity);
        using var scope = NewDisposeScope();
        context.Method = this; // the Fisher's memory estimate is made for all of this method's steps
        try
        {
            var outcome = Selection is not null
                ? new RuleOutcome(Selection.SelectKeep(context, target))
                : Rule!.Select(context, Score!, target);
            if (outcome.Keep is null)
                return new PruneResult(outcome.Model!, null, outcome.MaskedChannels ?? new Dictionary<string, long[]>(), outcome.Sparsity);
            Update?.Update(context, outcome.Keep);
            var masks = new MaskSet(context.Parameters, outcome.Keep);
            masks.Apply();
            if (FirstNonFinite(context.Parameters) is { } layer)
            {
                masks.Dispose();
                throw NonFinite(target, layer, context.Options);
            }
            return new PruneResult(context.Model, masks, context.MaskedChannels, masks.Sparsity);
        }
        finally
        {
            context.Method = null;
        }
    }

    /// <summary>As <see cref="Prune(PruningContext, PruneTarget)"/> to the fraction <paramref name="sparsity"/>.</summary>
    public PruneResult Prune(PruningContext context, double sparsity) => Prune(context, new PruneTarget(sparsity));

    /// <summary>What to change when an update overflows: the update scale when it is not 1, else the damping.</summary>
    public static string UpdateAdvice(PruningOptions options)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        return options.UpdateScale != 1
            ? $"--update-scale {options.UpdateScale.ToString("G4", c)} is too large, lower it (1 is the full OBS update)"
            : $"raise --lambda (now {options.Lambda.ToString("G4", c)})";
    }

    private SurgeonException NonFinite(PruneTarget target, string layer, PruningOptions options) =>
        new($"{Name} at sparsity {target.Sparsity.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} made weights of {layer} NaN or infinite" +
            (Update is null ? " (were the model's weights finite?)" : $": its update overflowed float32; {UpdateAdvice(options)}"));

    private static string? FirstNonFinite(IReadOnlyList<PrunableParameter> parameters)
    {
        using var scope = NewDisposeScope();
        return parameters.FirstOrDefault(p => !p.Weight.isfinite().all().item<bool>())?.Name;
    }

    private string Describe()
    {
        string what = Selection is not null ? Selection.Description : $"{Score!.Description}; {Rule!.Description}";
        return Update is null ? what : $"{what}; then {Update.Description}";
    }
}

/// <summary>What a method pruned: the model (the context's own, or a smaller one without the removed filters), the
/// keep-mask of its prunable weights (weight rules), the masked channels (filter rules) and the sparsity reached
/// (a fraction of weights, or of filters for a filter rule).</summary>
public sealed record PruneResult(nn.Module<Tensor, Tensor> Model, MaskSet? Mask,
    IReadOnlyDictionary<string, long[]> MaskedChannels, double Sparsity) : IDisposable
{
    /// <summary>Releases the mask.</summary>
    public void Dispose() => Mask?.Dispose();
}
