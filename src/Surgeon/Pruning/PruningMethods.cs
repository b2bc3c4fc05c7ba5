using Surgeon.Compression;
using Surgeon.Scoring;
using Surgeon.Selection;
using Surgeon.Update;

namespace Surgeon.Pruning;

/// <summary>
/// The one vocabulary of pruning methods: every score, rule, joint selection and update by name, and the grammar
/// that composes them, <c>score[@rule][+update]</c> or <c>selection[+update]</c> (e.g. <c>snip</c>, <c>grasp@layer</c>,
/// <c>magnitude@filter</c>, <c>woodfisher+cbs-u</c>). The rule defaults to global top-k. The names of the methods that
/// came first are aliases: <c>mp</c> = magnitude@global, <c>lmp</c> = magnitude@layer, <c>wf-s</c> = woodfisher@global,
/// <c>wf</c> = woodfisher@global+obs, <c>cbs</c> = cbs-s+cbs-u. A new score is one file and one line in <see cref="Scores"/>.
/// </summary>
public static class PruningMethods
{
    /// <summary>Every score, by registry name.</summary>
    public static IReadOnlyList<IScore> Scores { get; } =
    [
        new MagnitudeMeasure(),
        new L1Measure(),
        new WoodFisherScore(),
        new LossPreservationMeasure(),
        new BiasedLossMeasure(),
        new TaylorMeasure(),
        new FisherMeasure(),
        new GraspMeasure(),
        new GradientNormMeasure(),
        new SnipMeasure(),
        new SynFlowMeasure(),
        new BnScaleMeasure(),
    ];

    /// <summary>Every rule: global, layer-wise, per filter (N:M rules are parsed from their names).</summary>
    public static IReadOnlyList<IRule> Rules { get; } = [new GlobalRule(), new LayerRule(), new FilterRule()];

    /// <summary>Every joint selection (CBS-S, CHITA, OBC, SparseGPT).</summary>
    public static IReadOnlyList<IJointSelection> Selections { get; } = [new CbsSelection(), new ChitaSelection(), new ChitaSelection(swaps: true), new LayerwiseObs(), new LayerwiseObs(sparseGpt: true)];

    /// <summary>Every weight update (OBS, CBS-U, the backsolves).</summary>
    public static IReadOnlyList<IWeightUpdate> Updates { get; } = [new ObsUpdate(), new CbsUpdate(), new BacksolveUpdate(), new BacksolveUpdate(firstOrder: true)];

    /// <summary>Names kept from before the grammar, with what they stand for and the line that described them.</summary>
    public static IReadOnlyList<(string Alias, string Method, string Description)> Aliases { get; } =
    [
        ("mp", "magnitude@global", "global magnitude: prune the smallest |w| over all layers"),
        ("lmp", "magnitude@layer", "layer-wise magnitude: prune the same fraction of each layer by |w| (⌊s·d⌋ in all, the rounding spread by largest remainder)"),
        ("wf-s", "woodfisher@global", "WoodFisher selection: prune the smallest OBS saliency w²/(2[F⁻¹]_qq), no weight update"),
        ("wf", "woodfisher@global+obs", "WoodFisher: WF-S selection plus the OBS update of the kept weights"),
        ("cbs", "cbs-s+cbs-u", "Combinatorial Brain Surgeon: CBS-S selection plus the CBS-U multi-weight update"),
        ("chita", "chita-s+backsolve", "CHITA: ℓ0-constrained regression on the per-sample gradients (IHT with a line search), then the backsolve on its support"),
        ("chita-swap", "chita-swap-s+backsolve", "CHITA with the swap (active-set) refinement after IHT, then the backsolve"),
        ("chita-bso", "magnitude@global+backsolve", "CHITA-BSO: the backsolve alone, on the global magnitude support"),
        ("chita-bso-g", "magnitude@global+backsolve-g", "CHITA-BSO with the loss-gradient term in the backsolve (CHITA++'s inner step; use it multi-stage, e.g. ms16:chita-bso-g)"),
    ];

    /// <summary>The methods listed in help texts: the aliases, then a few compositions.</summary>
    public static IReadOnlyList<string> Examples { get; } = ["mp", "lmp", "wf-s", "wf", "cbs-s", "cbs", "chita", "chita-bso", "ms4-exp:chita", "obc", "sparsegpt@2:4", "magnitude@2:4", "mp+cbs-u", "wf-s+cbs-u", "snip", "grasp@layer", "magnitude@filter"];

    /// <summary>
    /// Parses one method. <paramref name="defaultRule"/> is the rule of a bare score (global unless the caller knows
    /// better, e.g. train --prune-structure filters). Unknown names and combinations that cannot work are one-line errors.
    /// </summary>
    public static PruningMethod Get(string text, string defaultRule = "global")
    {
        string name = text.Trim().ToLowerInvariant();
        if (name.Length == 0) throw new SurgeonException("no pruning method given");
        if (MultiStagePrefix.Match(name) is { Success: true } ms)
            return MultiStage(name, ms, defaultRule);
        string head = name, updateName = "";
        int plus = name.IndexOf('+');
        if (plus >= 0)
        {
            head = name[..plus];
            updateName = name[(plus + 1)..];
            if (updateName.Contains('+'))
                throw new SurgeonException($"method '{text}' has two updates; a method is score[@rule][+update] or selection[+update]");
        }
        var alias = Aliases.FirstOrDefault(a => a.Alias == head);
        if (alias.Alias is not null)
        {
            if (plus < 0)
                return Compose(name, alias.Method, defaultRule, alias.Description);
            if (alias.Method.Contains('+'))
                throw new SurgeonException($"method '{text}': {alias.Alias} already includes an update ({alias.Method}); write {alias.Method.Split('+')[0]}+{updateName}");
            return Compose(name, $"{alias.Method}+{updateName}", defaultRule, null);
        }
        return Compose(name, name, defaultRule, null);
    }

    /// <summary><c>msS[-exp|-poly|-lin]:method</c>: the method in S stages (see <see cref="MultiStageSelection"/>).</summary>
    private static readonly System.Text.RegularExpressions.Regex MultiStagePrefix =
        new(@"^ms(\d+)(?:-([a-z]+))?:(.+)$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private static PruningMethod MultiStage(string name, System.Text.RegularExpressions.Match ms, string defaultRule)
    {
        if (!int.TryParse(ms.Groups[1].Value, out int stages) || stages < 1 || stages > 100)
            throw new SurgeonException($"method '{name}': the number of stages must be 1..100");
        var schedule = ms.Groups[2].Success ? ms.Groups[2].Value switch
        {
            "exp" => StageSchedule.Exponential,
            "poly" => StageSchedule.Polynomial,
            "lin" => StageSchedule.Linear,
            var other => throw new SurgeonException($"method '{name}': unknown schedule '{other}'; use exp, poly or lin"),
        } : StageSchedule.Exponential;
        var inner = Get(ms.Groups[3].Value, defaultRule);
        var selection = new MultiStageSelection(stages, schedule, inner);
        return new PruningMethod(name, null, null, selection, null);
    }

    /// <summary>Parses a comma-separated list, rejecting unknown and repeated names.</summary>
    public static IReadOnlyList<PruningMethod> Parse(string list, string defaultRule = "global")
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0)
            throw new SurgeonException("no pruning method given");
        var methods = names.Select(n => Get(n, defaultRule)).ToList();
        var repeated = methods.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
            throw new SurgeonException($"method '{repeated.Key}' is listed twice");
        return methods;
    }

    /// <summary>The score called <paramref name="name"/>, or a one-line error listing the scores.</summary>
    public static IScore Score(string name) => Find(Scores, name.Trim().ToLowerInvariant(), "score");

    private static PruningMethod Compose(string name, string spelled, string defaultRule, string? description)
    {
        string head = spelled, updateName = "";
        int plus = spelled.IndexOf('+');
        if (plus >= 0)
        {
            head = spelled[..plus];
            updateName = spelled[(plus + 1)..];
        }
        IWeightUpdate? update = updateName is "" or "none" ? null : Find(Updates, updateName, "update");
        string scoreName = head, ruleName = defaultRule;
        int at = head.IndexOf('@');
        if (at >= 0)
        {
            scoreName = head[..at];
            ruleName = head[(at + 1)..];
        }
        var selection = Selections.FirstOrDefault(s => s.Name == scoreName);
        if (selection is LayerwiseObs obs && at >= 0 && NmRule.TryParse(ruleName) is { } pattern)
        {
            if (update is not null)
                throw new SurgeonException($"method '{name}': {obs.Name} updates the weights itself; drop +{update.Name}");
            return new PruningMethod(name, null, null, obs.WithPattern(pattern.N, pattern.M), null, description);
        }
        if (selection is LayerwiseObs && update is not null)
            throw new SurgeonException($"method '{name}': {selection.Name} updates the weights itself; drop +{update.Name}");
        if (selection is not null)
        {
            if (at >= 0)
                throw new SurgeonException($"method '{name}': {selection.Name} is a joint selection, which chooses the pruned weights itself; it takes no @rule");
            return new PruningMethod(name, null, null, selection, update, description);
        }
        if (!Scores.Any(s => s.Name == scoreName) && Updates.Any(u => u.Name == scoreName))
            throw new SurgeonException($"method '{name}': {scoreName} is an update; write score[@rule]+{scoreName}, e.g. magnitude+{scoreName}");
        if (!Scores.Any(s => s.Name == scoreName) && Rules.Any(r => r.Name == scoreName))
            throw new SurgeonException($"method '{name}': {scoreName} is a rule; write score@{scoreName}, e.g. magnitude@{scoreName}");
        var score = Scores.FirstOrDefault(s => s.Name == scoreName)
            ?? throw new SurgeonException($"unknown pruning method '{name}': a method is score[@rule][+update] or selection[+update], or one of {string.Join(", ", Aliases.Select(a => a.Alias))}; " +
                $"scores: {string.Join(", ", Scores.Select(s => s.Name))}; selections: {string.Join(", ", Selections.Select(s => s.Name))} (see surgeon methods)");
        var rule = NmRule.TryParse(ruleName) ?? Find(Rules, ruleName, "rule");
        return new PruningMethod(name, score, rule, null, update, description);
    }

    private static T Find<T>(IReadOnlyList<T> stages, string name, string kind) where T : IMethodStage =>
        stages.FirstOrDefault(s => s.Name == name)
        ?? throw new SurgeonException($"unknown {kind} '{name}': known {kind}s are {string.Join(", ", stages.Select(s => s.Name))}");
}
