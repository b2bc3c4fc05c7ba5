using System.Globalization;
using System.Text;
using Surgeon.Compression;
using Surgeon.Modifiers;
using Surgeon.Training;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Surgeon.Pruning;

/// <summary>One modifier of a recipe as written: its kind, its fields (as text) and the lines they are on.</summary>
internal sealed record RecipeEntry(string Modifier, int Line, IReadOnlyDictionary<string, string> Fields,
    IReadOnlyDictionary<string, int> FieldLines);

/// <summary>A kind of modifier a recipe may list, with its fields and what it does (<c>surgeon methods</c> prints them).</summary>
internal sealed record ModifierKind(string Name, string Description, IReadOnlyList<string> Fields, IReadOnlyList<string> Required);

/// <summary>
/// A recipe: the list of training modifiers of one run, each with its parameters and range, in the shape SparseML
/// recipes and Distiller schedules made familiar:
/// <code>
/// modifiers:
///   - modifier: gradual-pruning
///     method: mp
///     final-sparsity: 0.9
///     end-step: 600
/// </code>
/// Field names are the command-line option names. <c>surgeon train --recipe</c> and <c>finetune --recipe</c> read one;
/// their flags build the same recipe. It is stored in the checkpoint's sidecar. Unknown modifiers or fields, bad values
/// and two modifiers that decide the mask over overlapping ranges are one-line errors naming the recipe's line.
/// </summary>
internal sealed class Recipe
{
    private static readonly string[] PruningOptionFields =
    [
        "fisher-samples", "lambda", "block-size", "examples-per-sample", "update-scale", "cbs-epsilon", "cbs-relative-epsilon",
        "cbs-rho", "cbs-tau", "cbs-iterations", "cbs-candidates", "cbs-loss-samples", "cbs-start-scoring", "score-samples",
    ];

    private static readonly string[] AdmmFields =
    [
        "projection", "keep-ratio", "layer-projections", "layer-keep-ratios", "rho", "rho-growth", "rounds", "interval-epochs",
        "interval-steps", "start-epoch", "purify", "remove-unused-paths", "prunable",
    ];

    public static IReadOnlyList<ModifierKind> Kinds { get; } =
    [
        new("gradual-pruning", "prune with any weight method on the polynomial schedule s_t = s_f + (s_i − s_f)(1 − t/T)³ every f steps, holding the mask (Zhu & Gupta)",
            ["method", "final-sparsity", "initial-sparsity", "start-step", "end-step", "start-epoch", "end-epoch", "every-steps", "prunable", .. PruningOptionFields],
            ["method", "final-sparsity"]),
        new("prune-while-training", "Lubana & Dick: after epoch t and each of the next n − 1, prune p/(k·p + n(1 − p)) of the current filters (method@filter) or weights",
            ["method", "structure", "target", "rounds", "start-epoch", .. PruningOptionFields], ["method", "target"]),
        new("admm", "ADMM pruning (Zhang et al. 2018): ρ/2‖W − Z + U‖² added to the loss, Z = Π_S(W + U) and U += W − Z every interval for R rounds, then hard prune to Z's support [+ purification] [+ unused-path removal] and retrain with the mask held",
            [.. AdmmFields], ["projection", "keep-ratio"]),
        new("admm-quant", "ADMM quantisation: the same splitting with S = the b-bit grid of the best scale (pruned weights stay 0), then hard quantisation and retraining with every weight put back on its grid after each step",
            ["bits", "per-channel", "scale", "rho", "rho-growth", "rounds", "interval-epochs", "interval-steps", "start-epoch", "prunable"], ["bits"]),
        new("fixed-mask", "fine-tune holding the checkpoint's mask (its stored mask, else its zeros) at exact zeros", ["prunable"], []),
        new("fixed-rank", "fine-tune a factorised checkpoint in factored form: after every step each listed weight (ranks: LAYER=RANK, ...) is put back on its truncated SVD at its rank",
            ["ranks"], ["ranks"]),
        new("quantization-aware", "quantisation-aware training: every Conv2d/Linear computes with its weight (and, with activations, its input) fake-quantised, " +
            "the straight-through estimator training the float weights; weight grids tracked by min-max, input ranges by a moving average; the checkpoint is quantised",
            ["bits", "per-channel", "asymmetric", "activations", "momentum", "start-epoch"], ["bits"]),
        new("autoprune", "Xiao et al. 2019: an auxiliary m per weight (or filter) trained by its own SGD on the straight-through gradient plus λ·R(m); the net computes with w·h(m); masks frozen at the range's end (filters removed)",
            ["structure", "lambda", "regularizer", "ste", "surrogate", "leak", "aux-lr", "aux-momentum", "aux-init",
             "start-step", "end-step", "start-epoch", "end-epoch", "prunable"], ["lambda"]),
    ];

    /// <summary>The source name of a recipe built from command-line flags: its errors name no line (there is no file).</summary>
    public const string FlagsSource = "flags";

    /// <summary>"FILE line N: MODIFIER: " before a message about a recipe file; nothing for one built from flags.</summary>
    private static string At(string source, int line, string? modifier = null) =>
        source == FlagsSource ? "" : $"{source} line {line}: {(modifier is null ? "" : modifier + ": ")}";

    private Recipe(string source, IReadOnlyList<RecipeEntry> entries)
    {
        Source = source;
        Entries = entries;
    }

    /// <summary>Where the recipe came from (a file name, or "flags"), for messages.</summary>
    public string Source { get; }
    public IReadOnlyList<RecipeEntry> Entries { get; }

    public static Recipe Load(string path)
    {
        IO.InputFiles.Check(path, "recipe"); // an empty path, a FIFO or a device is refused before it is opened
        if (Directory.Exists(path))
            throw new SurgeonException($"{path} is a folder; give the recipe's YAML file");
        if (!File.Exists(path))
            throw new SurgeonException($"recipe not found: {path}");
        return Parse(File.ReadAllText(path), Path.GetFileName(path));
    }

    /// <summary>Parses and checks a recipe (names, fields, values; not yet the ranges, which need the run's length).</summary>
    public static Recipe Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new SurgeonException($"{source} line {e.Start.Line}: not valid YAML ({e.Message.Split('\n')[0]})", e);
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new SurgeonException($"{source}: a recipe is one YAML mapping with a 'modifiers' list");
        foreach (var (key, _) in root.Children)
            if (Text(key) != "modifiers")
                throw new SurgeonException($"{source} line {key.Start.Line}: unknown field '{Text(key)}' (a recipe has 'modifiers')");
        if (!root.Children.TryGetValue(new YamlScalarNode("modifiers"), out var list) || list is not YamlSequenceNode items)
            throw new SurgeonException($"{source} line {root.Start.Line}: a recipe needs a 'modifiers' list");
        var entries = new List<RecipeEntry>();
        foreach (var item in items)
        {
            int line = (int)item.Start.Line;
            if (item is not YamlMappingNode map)
                throw new SurgeonException($"{source} line {line}: each modifier is a mapping with 'modifier: NAME' and its fields");
            var fields = new Dictionary<string, string>();
            var lines = new Dictionary<string, int>();
            foreach (var (k, v) in map.Children)
            {
                string key = Text(k);
                if (v is not YamlScalarNode scalar)
                    throw new SurgeonException($"{source} line {k.Start.Line}: field '{key}' must be a single value");
                if (!fields.TryAdd(key, scalar.Value ?? ""))
                    throw new SurgeonException($"{source} line {k.Start.Line}: field '{key}' is given twice");
                lines[key] = (int)k.Start.Line;
            }
            if (!fields.Remove("modifier", out string? kindName))
                throw new SurgeonException($"{source} line {line}: the modifier has no 'modifier: NAME' ({string.Join(", ", Kinds.Select(k => k.Name))})");
            var entry = new RecipeEntry(kindName, line, fields, lines);
            Check(entry, source);
            entries.Add(entry);
        }
        if (entries.Count == 0)
            throw new SurgeonException($"{source} line {items.Start.Line}: the recipe lists no modifier");
        return new Recipe(source, entries);
    }

    /// <summary>A recipe built in code (from command-line flags): checked like a file.</summary>
    public static Recipe Of(string source, params (string Modifier, (string Key, string Value)[] Fields)[] modifiers)
    {
        var entries = modifiers.Select((m, i) => new RecipeEntry(m.Modifier, i + 1,
            m.Fields.ToDictionary(f => f.Key, f => f.Value), m.Fields.ToDictionary(f => f.Key, _ => i + 1))).ToList();
        foreach (var e in entries) Check(e, source);
        return new Recipe(source, entries);
    }

    /// <summary>The recipe as YAML (what the sidecar stores; parsing it gives this recipe back).</summary>
    public string ToYaml()
    {
        var sb = new StringBuilder("modifiers:\n");
        foreach (var e in Entries)
        {
            sb.Append("  - modifier: ").Append(e.Modifier).Append('\n');
            foreach (var (key, value) in e.Fields)
                sb.Append("    ").Append(key).Append(": ").Append(Quote(value)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>Whether a modifier of this kind is listed.</summary>
    public bool Has(string modifier) => Entries.Any(e => e.Modifier == modifier);

    /// <summary>
    /// The modifiers of a run of <paramref name="epochs"/> epochs of <paramref name="batchesPerEpoch"/> optimiser steps,
    /// in the recipe's order; two that decide the mask over overlapping ranges are an error naming both lines.
    /// </summary>
    public IReadOnlyList<TrainingModifier> CreateModifiers(int epochs, int batchesPerEpoch) => Build(epochs, batchesPerEpoch);

    /// <summary>
    /// Checks what does not depend on the data (fields, their types and values, methods), so a bad recipe fails before
    /// the data is loaded; step ranges and schedules are checked by <see cref="CreateModifiers"/> once the number of
    /// batches per epoch is known (a recipe written in epochs is right or wrong only against the real run).
    /// </summary>
    public void CheckBeforeData(int epochs) => Build(epochs, null);

    private IReadOnlyList<TrainingModifier> Build(int epochs, int? knownBatchesPerEpoch)
    {
        bool stepsKnown = knownBatchesPerEpoch is not null;
        int batchesPerEpoch = knownBatchesPerEpoch ?? 1;
        long totalSteps = (long)epochs * batchesPerEpoch;
        var modifiers = new List<(TrainingModifier Modifier, RecipeEntry Entry)>();
        foreach (var e in Entries)
        {
            var f = new FieldReader(e, Source);
            TrainingModifier modifier;
            try
            {
                modifier = e.Modifier switch
                {
                    "gradual-pruning" => Gradual(f, batchesPerEpoch, totalSteps, stepsKnown),
                    "prune-while-training" => PruneWhileTraining(f, epochs),
                    "fixed-mask" => new FixedMaskModifier { Prunable = f.Prunable() },
                    "fixed-rank" => new FixedRankModifier(f.Wrapped("ranks", () => FixedRankModifier.ParseRanks(f.Text("ranks")!))),
                    "quantization-aware" => QuantizationAware(f),
                    "autoprune" => AutoPrune(f, batchesPerEpoch, totalSteps, stepsKnown),
                    "admm" => Admm(f),
                    "admm-quant" => AdmmQuant(f),
                    _ => throw new InvalidOperationException(e.Modifier),
                };
            }
            catch (SurgeonException ex) when (Source != FlagsSource && !ex.Message.StartsWith(Source, StringComparison.Ordinal))
            {
                throw new SurgeonException($"{At(Source, e.Line, e.Modifier)}{ex.Message}", ex);
            }
            modifiers.Add((modifier, e));
        }
        var owners = stepsKnown ? modifiers.Where(m => m.Modifier.OwnsMask).ToList() : [];
        for (int i = 0; i < owners.Count; i++)
            for (int j = i + 1; j < owners.Count; j++)
            {
                var (a0, a1) = owners[i].Modifier.Range.InStepsOf(batchesPerEpoch);
                var (b0, b1) = owners[j].Modifier.Range.InStepsOf(batchesPerEpoch);
                if (a0 <= b1 && b0 <= a1)
                    throw new SurgeonException($"{At(Source, owners[j].Entry.Line)}{owners[j].Modifier.Name} ({owners[j].Modifier.Range}) overlaps " +
                        $"{owners[i].Modifier.Name} ({owners[i].Modifier.Range}) of line {owners[i].Entry.Line}: both decide which weights are pruned; give them ranges that do not overlap");
            }
        return modifiers.Select(m => m.Modifier).ToList();
    }

    private static GradualPruningModifier Gradual(FieldReader f, int batchesPerEpoch, long totalSteps, bool stepsKnown)
    {
        var method = f.Method("global");
        double final = f.Double("final-sparsity")!.Value;
        double initial = f.Double("initial-sparsity") ?? 0;
        if (f.Has("start-step") && f.Has("start-epoch")) throw f.Error("start-step", "give start-step or start-epoch, not both");
        if (f.Has("end-step") && f.Has("end-epoch")) throw f.Error("end-step", "give end-step or end-epoch, not both");
        long start = f.Long("start-step") ?? (f.Int("start-epoch") ?? 0) * (long)batchesPerEpoch;
        long end = f.Long("end-step") ?? (f.Int("end-epoch") is { } e ? e * (long)batchesPerEpoch : start + Math.Max(1, (totalSteps - start) / 2));
        if (!stepsKnown) end = Math.Max(end, start + 1);
        if (end <= start) throw f.Error(f.Has("end-step") ? "end-step" : "end-epoch", $"the schedule must end after it starts (step {start}), got step {end}");
        long steps = end - start;
        long every = f.Long("every-steps") ?? Math.Max(1, steps / 10);
        // Checked here, not only by the schedule, so the error names the recipe's field and the run's size: a recipe
        // written for full epochs (every-steps: 50) does not fit a small run of a few batches per epoch.
        if (every < 1 || (stepsKnown && every > steps))
            throw f.Error("every-steps", $"pruning every {every} optimiser steps does not fit the schedule's {steps} steps (steps {start}..{end}, {batchesPerEpoch} batches per epoch); use 1..{steps}");
        var schedule = new PolynomialSparsitySchedule(initial, final, stepsKnown ? steps : Math.Max(steps, every), every, start);
        schedule.Validate();
        return new GradualPruningModifier(method, schedule) { Options = f.PruningOptions(), Prunable = f.Prunable() };
    }

    private static QuantizationAwareTrainingModifier QuantizationAware(FieldReader f)
    {
        var weights = new Quantization.WeightQuantizationSettings
        {
            Bits = f.Int("bits")!.Value,
            PerChannel = f.Bool("per-channel") ?? false,
            Symmetric = !(f.Bool("asymmetric") ?? false),
        };
        var modifier = new QuantizationAwareTrainingModifier(weights, f.Int("activations") ?? 0)
        {
            Momentum = f.Double("momentum") ?? 0.9,
            StartEpoch = f.Int("start-epoch") ?? 1,
        };
        try
        {
            modifier.Validate();
        }
        catch (SurgeonException e)
        {
            throw f.Error("bits", e.Message);
        }
        return modifier;
    }

    private static AutoPruneModifier AutoPrune(FieldReader f, int batchesPerEpoch, long totalSteps, bool stepsKnown)
    {
        if (f.Has("start-step") && f.Has("start-epoch")) throw f.Error("start-step", "give start-step or start-epoch, not both");
        if (f.Has("end-step") && f.Has("end-epoch")) throw f.Error("end-step", "give end-step or end-epoch, not both");
        long start = f.Long("start-step") ?? (f.Int("start-epoch") ?? 0) * (long)batchesPerEpoch;
        long end = f.Long("end-step") ?? (f.Int("end-epoch") is { } e ? e * (long)batchesPerEpoch : totalSteps);
        string endField = f.Has("end-step") ? "end-step" : "end-epoch";
        if (start < 0) throw f.Error(f.Has("start-step") ? "start-step" : "start-epoch", $"must be ≥ 0, got {start}");
        if (!stepsKnown) return new AutoPruneModifier(f.AutoPruneOptions(), start, Math.Max(end, start + 1)) { Prunable = f.Prunable() };
        if (end <= start) throw f.Error(endField, $"the range must end after it starts (step {start}), got step {end}");
        if (end > totalSteps) throw f.Error(endField, $"step {end} is after the run's last step {totalSteps}");
        return new AutoPruneModifier(f.AutoPruneOptions(), start, end) { Prunable = f.Prunable() };
    }

    private static AdmmPruningModifier Admm(FieldReader f)
    {
        string projection = f.Text("projection")!;
        f.Wrapped("projection", () => Selection.Projections.Projections.Parse(projection));
        double keepRatio = f.Double("keep-ratio")!.Value;
        f.Wrapped("keep-ratio", () => Selection.Projections.KeepTarget.OfRatio(keepRatio));
        var layerProjections = f.Text("layer-projections") is { } lp
            ? f.Wrapped("layer-projections", () => AdmmLayerPlan.ParseLayerMap(lp, p => { Selection.Projections.Projections.Parse(p); return p; }))
            : [];
        var layerRatios = f.Text("layer-keep-ratios") is { } lr
            ? f.Wrapped("layer-keep-ratios", () => AdmmLayerPlan.ParseLayerMap(lr, AdmmLayerPlan.ParseRatio))
            : [];
        var plan = new AdmmLayerPlan { Projection = projection, KeepRatio = keepRatio, LayerProjections = layerProjections, LayerKeepRatios = layerRatios };
        var schedule = AdmmScheduleOf(f);
        double? tau = f.Double("purify");
        if (tau is { } t && !(t > 0 && t <= 1))
            throw f.Error("purify", $"the purification threshold τ must be in (0, 1], got {t.ToString("G6", CultureInfo.InvariantCulture)}");
        return new AdmmPruningModifier(plan, schedule)
        {
            Prunable = f.Prunable(),
            PurifyThreshold = tau,
            RemoveUnusedPaths = f.Bool("remove-unused-paths") ?? false,
        };
    }

    /// <summary>ρ, its growth, the rounds, the interval and the start of an ADMM modifier, each checked alone (so the error names its line).</summary>
    private static AdmmSchedule AdmmScheduleOf(FieldReader f)
    {
        if (f.Has("interval-epochs") && f.Has("interval-steps")) throw f.Error("interval-steps", "give interval-epochs or interval-steps, not both");
        var schedule = new AdmmSchedule(f.Double("rho") ?? 1e-3, f.Double("rho-growth") ?? 1, f.Int("rounds") ?? 4,
            f.Int("interval-steps") ?? f.Int("interval-epochs") ?? 1, InSteps: f.Has("interval-steps"), f.Int("start-epoch") ?? 1);
        var one = new AdmmSchedule(1, 1, 1, 1, schedule.InSteps);
        f.Wrapped("rho", () => { (one with { Rho = schedule.Rho }).Validate(); return 0; });
        f.Wrapped("rho-growth", () => { (one with { RhoGrowth = schedule.RhoGrowth }).Validate(); return 0; });
        f.Wrapped("rounds", () => { (one with { Rounds = schedule.Rounds }).Validate(); return 0; });
        f.Wrapped(schedule.InSteps ? "interval-steps" : "interval-epochs", () => { (one with { Interval = schedule.Interval }).Validate(); return 0; });
        f.Wrapped("start-epoch", () => { (one with { StartEpoch = schedule.StartEpoch }).Validate(); return 0; });
        return schedule;
    }

    private static AdmmQuantizationModifier AdmmQuant(FieldReader f)
    {
        var scale = f.Text("scale") switch
        {
            null or "mse" => Quantization.ScaleMethod.Mse,
            "minmax" or "min-max" => Quantization.ScaleMethod.MinMax,
            var other => throw f.Error("scale", $"'{other}' is not mse or minmax"),
        };
        var settings = new Quantization.WeightQuantizationSettings { Bits = f.Int("bits")!.Value, PerChannel = f.Bool("per-channel") ?? true, Scale = scale };
        f.Wrapped("bits", () => { settings.Validate(); return 0; });
        return new AdmmQuantizationModifier(settings, AdmmScheduleOf(f)) { Prunable = f.Prunable() };
    }

    private static PruneWhileTrainingModifier PruneWhileTraining(FieldReader f, int epochs)
    {
        var method = f.Method(f.StructureRule());
        var schedule = new FilterPruningSchedule(f.Double("target")!.Value, f.Int("rounds") ?? 1, f.Int("start-epoch") ?? 1);
        var modifier = new PruneWhileTrainingModifier(method, schedule) { ScoreSamples = f.Int("score-samples") ?? 1000, Options = f.PruningOptions() };
        schedule.Validate(epochs);
        return modifier;
    }

    private static void Check(RecipeEntry e, string source)
    {
        var kind = Kinds.FirstOrDefault(k => k.Name == e.Modifier)
            ?? throw new SurgeonException($"{At(source, e.Line)}unknown modifier '{e.Modifier}' (known: {string.Join(", ", Kinds.Select(k => k.Name))})");
        foreach (var key in e.Fields.Keys)
            if (!kind.Fields.Contains(key))
                throw new SurgeonException($"{At(source, e.FieldLines[key])}{kind.Name} has no field '{key}' (its fields: {string.Join(", ", kind.Fields)})");
        foreach (var key in kind.Required)
            if (!e.Fields.ContainsKey(key))
                throw new SurgeonException($"{At(source, e.Line)}{kind.Name} needs '{key}'");
        // Values: parsed now, so a bad one fails before any data is loaded.
        var f = new FieldReader(e, source);
        foreach (var key in e.Fields.Keys)
        {
            switch (key)
            {
                case "method": f.Method(e.Modifier == "prune-while-training" ? f.StructureRule() : "global"); break;
                case "structure": f.StructureRule(); break;
                case "prunable": f.Prunable(); break;
                case "regularizer" or "ste" or "surrogate": break; // read with the other AutoPrune options below
                case "aux-lr" or "aux-momentum" or "aux-init" or "leak": f.Double(key); break;
                case "cbs-relative-epsilon" or "remove-unused-paths" or "per-channel" or "asymmetric": f.Bool(key); break;
                case "scale": break; // checked with the modifier below
                case "cbs-start-scoring": break; // read with the pruning options below
                case "ranks": f.Wrapped(key, () => FixedRankModifier.ParseRanks(f.Text(key)!)); break;
                case "projection" or "layer-projections" or "layer-keep-ratios": break; // checked with the modifier below
                case "keep-ratio" or "rho" or "rho-growth" or "purify" or "momentum": f.Double(key); break;
                case "final-sparsity" or "initial-sparsity" or "target" or "lambda" or "update-scale" or "cbs-epsilon": f.Double(key); break;
                case "start-step" or "end-step" or "every-steps": f.Long(key); break;
                default: f.Int(key); break;
            }
        }
        if (e.Modifier is "gradual-pruning" or "prune-while-training") f.PruningOptions().Validate();
        if (e.Modifier is "quantization-aware") QuantizationAware(f);
        if (e.Modifier is "autoprune") f.AutoPruneOptions();
        if (e.Modifier == "admm") Admm(f); // ρ ≤ 0, ratios outside (0, 1], unknown projections: errors before any data loads
        if (e.Modifier == "admm-quant") AdmmQuant(f);
    }

    private static string Text(YamlNode node) => node is YamlScalarNode s ? s.Value ?? "" : node.ToString();

    private static string Quote(string value) =>
        value.Length > 0 && value.All(c => char.IsLetterOrDigit(c) || c is '-' or '.' or '+' or '@' or '_') ? value : $"\"{value.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"";

    /// <summary>Typed reads of an entry's fields, with errors naming the field's line.</summary>
    private sealed class FieldReader(RecipeEntry entry, string source)
    {
        public bool Has(string key) => entry.Fields.ContainsKey(key);

        public SurgeonException Error(string key, string why) => source == FlagsSource
            ? new(why)
            : new($"{At(source, entry.FieldLines.GetValueOrDefault(key, entry.Line), entry.Modifier)}{key}: {why}");

        public double? Double(string key) => Parse(key, s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v : (double?)null, "a number");
        public int? Int(string key) => Parse(key, s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) ? v : (int?)null, "a whole number");
        public long? Long(string key) => Parse(key, s => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : (long?)null, "a whole number");
        public string? Text(string key) => entry.Fields.TryGetValue(key, out var text) ? text.Trim() : null;

        /// <summary>Runs <paramref name="f"/>, turning its error into one naming <paramref name="key"/>'s line.</summary>
        public T Wrapped<T>(string key, Func<T> f)
        {
            try
            {
                return f();
            }
            catch (SurgeonException e)
            {
                throw Error(key, e.Message);
            }
        }

        public bool? Bool(string key) => Parse(key, s => bool.TryParse(s, out bool v) ? v : (bool?)null, "true or false");

        public PruningMethod Method(string defaultRule)
        {
            try
            {
                return PruningMethods.Get(entry.Fields["method"], defaultRule);
            }
            catch (SurgeonException e)
            {
                throw Error("method", e.Message);
            }
        }

        /// <summary>The default rule that 'structure' (filters or weights) gives a bare score; global when absent.
        /// A method with its own @rule must agree with it.</summary>
        public string StructureRule()
        {
            if (!entry.Fields.TryGetValue("structure", out var text)) return "global";
            string rule = text.Trim() switch
            {
                "filters" => "filter",
                "weights" => "global",
                _ => throw Error("structure", $"'{text}' is not filters or weights"),
            };
            if (entry.Fields.TryGetValue("method", out var m) && m.Contains('@') && (m.Contains("@filter") != (rule == "filter")))
                throw Error("structure", $"the method {m} does not prune {text}");
            return rule;
        }

        public PrunableSet Prunable()
        {
            try
            {
                return PrunableParameters.ParseSet(entry.Fields.GetValueOrDefault("prunable", "paper"));
            }
            catch (SurgeonException e)
            {
                throw Error("prunable", e.Message);
            }
        }

        public PruningOptions PruningOptions()
        {
            var d = new PruningOptions();
            return new PruningOptions
            {
                FisherSamples = Int("fisher-samples") ?? d.FisherSamples,
                Lambda = Double("lambda") ?? d.Lambda,
                BlockSize = Int("block-size") ?? d.BlockSize,
                ExamplesPerSample = Int("examples-per-sample") ?? d.ExamplesPerSample,
                UpdateScale = Double("update-scale") ?? d.UpdateScale,
                CbsEpsilon = Double("cbs-epsilon") ?? d.CbsEpsilon,
                CbsRelativeEpsilon = Bool("cbs-relative-epsilon") ?? d.CbsRelativeEpsilon,
                CbsRho = Int("cbs-rho") ?? d.CbsRho,
                CbsTau = Int("cbs-tau") ?? d.CbsTau,
                CbsMaxIterations = Int("cbs-iterations") ?? d.CbsMaxIterations,
                CbsCandidates = Int("cbs-candidates") ?? d.CbsCandidates,
                CbsLossSamples = Int("cbs-loss-samples") ?? d.CbsLossSamples,
                CbsStartScoring = Choice("cbs-start-scoring", CbsStartScorings.Parse) ?? d.CbsStartScoring,
                ScoreSamples = Int("score-samples") ?? d.ScoreSamples,
            };
        }

        /// <summary>The AutoPrune settings, validated (an error names the field).</summary>
        public AutoPruneOptions AutoPruneOptions()
        {
            var d = new AutoPruneOptions();
            var o = new AutoPruneOptions
            {
                PerFilter = StructureRule() == "filter",
                Lambda = Double("lambda") ?? d.Lambda,
                Regularizer = Choice("regularizer", Modifiers.AutoPruneOptions.ParseRegularizer) ?? d.Regularizer,
                Ste = Choice("ste", Modifiers.AutoPruneOptions.ParseSte) ?? d.Ste,
                Surrogate = Choice("surrogate", Modifiers.AutoPruneOptions.ParseSurrogate) ?? d.Surrogate,
                Leak = Double("leak") ?? d.Leak,
                LearningRate = Double("aux-lr") ?? d.LearningRate,
                Momentum = Double("aux-momentum") ?? d.Momentum,
                Init = Double("aux-init") ?? d.Init,
            };
            try
            {
                o.Validate();
            }
            catch (SurgeonException e)
            {
                // The message starts with the field's name ("aux-lr must be …"): say it once, as the field.
                string key = e.Message.Split(' ')[0];
                throw entry.Fields.ContainsKey(key) ? Error(key, e.Message[(key.Length + 1)..]) : Error("lambda", e.Message);
            }
            return o;
        }

        private T? Choice<T>(string key, Func<string, T> parse) where T : struct
        {
            if (!entry.Fields.TryGetValue(key, out var text)) return null;
            try
            {
                return parse(text);
            }
            catch (SurgeonException e)
            {
                throw Error(key, e.Message);
            }
        }

        private T? Parse<T>(string key, Func<string, T?> parse, string what) where T : struct =>
            entry.Fields.TryGetValue(key, out var text) ? parse(text.Trim()) ?? throw Error(key, $"'{text}' is not {what}") : null;
    }
}
