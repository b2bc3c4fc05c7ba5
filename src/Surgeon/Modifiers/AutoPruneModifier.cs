using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Numerics;
using Surgeon.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// AutoPrune (recipe name autoprune; Xiao, Wang &amp; Rajasekaran, NeurIPS 2019): each prunable weight, or each filter,
/// gets an auxiliary m (m₀ &gt; 0: all start kept); the network computes with w·h(m), h the step [m &gt; 0]; the weights
/// train through the mask (∂L/∂w = G·h(m)) with the loop's optimiser, the auxiliaries with their own SGD on
/// G·s(w)·h̃′(m) + λ·∂R/∂m (<see cref="AutoPruneGradients"/>), and the mask is recomputed after every step. A pruned
/// weight keeps its trained value and comes back with it when its m turns positive again. At the end of the range the
/// masks are frozen and the auxiliaries dropped: per weight the run holds the mask (an ordinary pruned checkpoint),
/// per filter the pruned filters are removed through the model's shrink (the loop continues with the smaller model).
/// <para>
/// The masked product is applied by swapping weight values rather than by wrapping the forward: the layer holds
/// w·h(m) for the forward and backward pass, so its .grad is G = ∂L/∂(w·h(m)); before the optimiser step the modifier
/// turns that into G·h(m), puts the dense weights back (so the step, the momentum and the weight decay act on w) and
/// steps the auxiliaries; after it, it stores the new dense weights and masks them again. With nothing pruned every
/// mask is exactly 1 and the run is bit-for-bit the run without the modifier. Per epoch it records sparsity per
/// layer and the mask flips 0→1 and 1→0 (<see cref="History"/>) and announces them to the loop's observers.
/// </para>
/// </summary>
internal sealed class AutoPruneModifier(AutoPruneOptions options, long startStep = 0, long? endStep = null) : TrainingModifier
{
    /// <summary>A tensor the mask multiplies, with the dense values it trains (pruned entries keep theirs).</summary>
    private sealed record Entry(Parameter Weight, Tensor Dense);

    /// <summary>The auxiliaries of one layer (per weight) or one filter group (per filter).</summary>
    private sealed class Unit(string name, Tensor m, IReadOnlyList<Entry> entries, Tensor? held)
    {
        public string Name { get; } = name;
        public Tensor M { get; } = m;
        public Tensor? Buffer { get; set; }
        public IReadOnlyList<Entry> Entries { get; } = entries;
        /// <summary>Float 0/1 where a checkpoint's mask already pruned the weight (stays pruned), or null.</summary>
        public Tensor? Held { get; } = held;
        /// <summary>The current mask h(m) (times <see cref="Held"/>), float 0/1 shaped like <see cref="M"/>.</summary>
        public Tensor Keep { get; set; } = null!;
    }

    private readonly List<Unit> units = [];
    private readonly List<AutoPruneEpoch> history = [];
    private IReadOnlyList<PrunableParameter>? prunable;
    private Tensor? revived, newlyPruned;
    private long end;
    private bool begun, frozen, loggedFrozen;

    public override string Name => "autoprune";
    public AutoPruneOptions Options { get; } = options;
    /// <summary>The optimiser step after which the auxiliaries are created (0 = before training).</summary>
    public long StartStep { get; } = startStep;
    /// <summary>The step after which the masks are frozen; null = the last step of the run.</summary>
    public long? EndStep { get; } = endStep;
    /// <summary>Which weights get auxiliaries (per weight).</summary>
    public PrunableSet Prunable { get; init; } = PrunableSet.All;
    public override ActiveRange Range => new(StartStep, EndStep, InSteps: true);
    public override bool OwnsMask => true;
    /// <summary>Per epoch: sparsity per layer, mask flips 0→1 and 1→0.</summary>
    public IReadOnlyList<AutoPruneEpoch> History => history;
    /// <summary>Whether the masks are frozen (the auxiliaries are gone).</summary>
    public bool Frozen => frozen;

    /// <summary>The names of the units with auxiliaries (layers' weights, or filter groups), once they exist.</summary>
    public IReadOnlyList<string> UnitNames => units.Select(u => u.Name).ToList();

    /// <summary>A copy of one unit's auxiliaries m (shaped like its weight, or one per filter).</summary>
    public Tensor Auxiliary(string unit) => Find(unit).M.detach().clone();

    /// <summary>
    /// Overwrites one unit's auxiliaries (to start from chosen values, or to push a pruned weight's m positive by
    /// hand) and re-masks its weights at once: a weight whose m turns positive is back with its dense trained value.
    /// </summary>
    public void SetAuxiliary(string unit, Tensor values)
    {
        var u = Find(unit);
        if (!values.shape.SequenceEqual(u.M.shape))
            throw new SurgeonException($"autoprune: {unit} has auxiliaries of shape [{string.Join('×', u.M.shape)}], got [{string.Join('×', values.shape)}]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        u.M.copy_(values);
        u.Keep.copy_(NewKeep(u));
        foreach (var e in u.Entries)
        {
            e.Weight.copy_(e.Dense);
            e.Weight.mul_(Expand(u.Keep, e.Weight));
        }
    }

    private Unit Find(string unit)
    {
        if (!begun || frozen)
            throw new SurgeonException($"autoprune: no auxiliaries {(frozen ? "any more (the masks are frozen)" : "yet (the range has not started)")}");
        return units.FirstOrDefault(u => u.Name == unit)
            ?? throw new SurgeonException($"autoprune: no unit '{unit}' (units: {string.Join(", ", units.Select(u => u.Name))})");
    }

    public override void RunStart(TrainingLoop loop)
    {
        Options.Validate();
        end = EndStep ?? loop.TotalSteps;
        if (StartStep < 0)
            throw new SurgeonException($"autoprune: start-step must be ≥ 0, got {StartStep}");
        if (end <= StartStep)
            throw new SurgeonException($"autoprune: the range must end after it starts (step {StartStep}), got step {end}");
        if (end > loop.TotalSteps)
            throw new SurgeonException($"autoprune runs to step {end} but training has only {loop.TotalSteps} ({loop.Options.Epochs} epochs × {loop.BatchesPerEpoch} batches); lower the end or add epochs");
        if (Options.PerFilter)
        {
            if (loop.Model is not IStructuredModel s || !s.FilterGroups.Any(g => g.Removable))
                throw new SurgeonException("autoprune per filter needs a model with removable filter groups (the registry's models); use structure: weights");
            if (loop.Mask is { PrunedCount: > 0 })
                throw new SurgeonException("autoprune per filter starts from a model without a weight mask; this checkpoint holds pruned weights (use structure: weights)");
            loop.Mask?.Dispose();
            loop.Mask = null;
        }
        units.Clear();
        history.Clear();
        begun = frozen = loggedFrozen = false;
        if (StartStep == 0) Begin(loop);
    }

    public override void BeforeStep(TrainingLoop loop)
    {
        if (!begun || frozen) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var lr = HeldScalars.Of(-Options.LearningRate);
        var momentum = HeldScalars.Of(Options.Momentum);
        foreach (var u in units)
        {
            Tensor factor = zeros_like(u.M);
            foreach (var e in u.Entries)
            {
                var g = e.Weight.grad;
                if (g is null) continue;
                var f = AutoPruneGradients.LossFactor(g, e.Dense, Options);
                factor = factor.add(Options.PerFilter ? f.reshape(u.M.shape[0], -1).sum(dim: 1) : f, HeldScalars.One);
                g.mul_(Expand(u.Keep, e.Weight)); // ∂L/∂w = G·h(m)
            }
            foreach (var e in u.Entries) e.Weight.copy_(e.Dense); // the optimiser steps the dense weights
            var grad = AutoPruneGradients.AuxiliaryGradient(factor, u.M, Options);
            if (Options.Momentum > 0)
            {
                if (u.Buffer is null) u.Buffer = grad.detach().clone().DetachFromDisposeScope();
                else u.Buffer.mul_(momentum).add_(grad, HeldScalars.One);
                grad = u.Buffer;
            }
            u.M.add_(grad, lr);
            var keep = NewKeep(u);
            revived!.add_(keep.gt(u.Keep).sum().to(revived.device).to_type(ScalarType.Float64), HeldScalars.One);
            newlyPruned!.add_(keep.lt(u.Keep).sum().to(newlyPruned.device).to_type(ScalarType.Float64), HeldScalars.One);
            u.Keep.copy_(keep);
        }
    }

    public override void AfterStep(TrainingLoop loop)
    {
        if (begun && !frozen)
        {
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                foreach (var u in units)
                    foreach (var e in u.Entries)
                    {
                        e.Dense.copy_(e.Weight);
                        e.Weight.mul_(Expand(u.Keep, e.Weight));
                    }
            }
            if (loop.Steps >= end) Freeze(loop);
        }
        else if (frozen)
            loop.Mask?.Apply();
        else if (!begun && loop.Steps == StartStep)
            Begin(loop);
    }

    public override void EpochEnd(TrainingLoop loop, EpochStats stats)
    {
        if (!begun || loggedFrozen) return;
        loggedFrozen = frozen;
        var record = new AutoPruneEpoch(stats.Epoch, loop.Steps,
            units.Select(u => new AutoPruneLayer(u.Name, u.Keep.numel(), u.Keep.numel() - (long)u.Keep.sum().item<float>())).ToList(),
            (long)revived!.item<double>(), (long)newlyPruned!.item<double>());
        revived.zero_();
        newlyPruned.zero_();
        history.Add(record);
        if (!frozen && !Options.PerFilter) SetLoopMask(loop);
        loop.Announce(record.Describe());
    }

    public override void RunEnd(TrainingLoop loop)
    {
        // A run that stops inside the range (it cannot: RunStart checks the end) would still leave auxiliaries.
        if (begun && !frozen) Freeze(loop);
    }

    private void Begin(TrainingLoop loop)
    {
        begun = true;
        // Float64 counters (exact up to 2⁵³), accumulated on the device without a host sync per step.
        revived = tensor(0.0).DetachFromDisposeScope();
        newlyPruned = tensor(0.0).DetachFromDisposeScope();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var model = loop.Model;
        if (Options.PerFilter)
        {
            var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var g in ((IStructuredModel)model).FilterGroups.Where(g => g.Removable))
            {
                var names = g.Producers.Concat(g.Biases).Concat(g.Norms)
                    .Concat(g.Norms.Where(n => n.EndsWith(".weight", StringComparison.Ordinal)).Select(n => n[..^".weight".Length] + ".bias"))
                    .Where(named.ContainsKey).Distinct();
                var entries = names.Select(n => new Entry(named[n], named[n].detach().clone().DetachFromDisposeScope())).ToList();
                AddUnit(g.Name, [g.Channels], entries, held: null);
            }
        }
        else
        {
            prunable = PrunableParameters.Discover(model, Prunable);
            var stored = loop.Mask;
            foreach (var p in prunable)
            {
                int at = stored is null ? -1 : stored.Parameters.ToList().FindIndex(q => q.Name == p.Name);
                var held = at < 0 ? null : stored!.LayerMask(at).to(p.Weight.device).to_type(p.Weight.dtype).DetachFromDisposeScope();
                AddUnit(p.Name, p.Shape, [new Entry(p.Weight, p.Weight.detach().clone().DetachFromDisposeScope())], held);
            }
        }
        foreach (var u in units)
            foreach (var e in u.Entries)
                e.Weight.mul_(Expand(u.Keep, e.Weight));
        loop.Progress.Info($"step {loop.Steps}: autoprune starts ({Options}) on {units.Sum(u => u.M.numel()):N0} {(Options.PerFilter ? "filters" : "weights")}");
    }

    private void AddUnit(string name, long[] shape, List<Entry> entries, Tensor? held)
    {
        var device = entries.Count > 0 ? entries[0].Weight.device : CPU;
        var m = full(shape, HeldScalars.Of(Options.Init), dtype: ScalarType.Float32, device: device).DetachFromDisposeScope();
        var u = new Unit(name, m, entries, held);
        u.Keep = NewKeep(u).DetachFromDisposeScope();
        units.Add(u);
    }

    /// <summary>h(m), times the held mask.</summary>
    private static Tensor NewKeep(Unit u)
    {
        var k = AutoPruneGradients.Step(u.M);
        return u.Held is null ? k : k.mul(u.Held);
    }

    /// <summary>A unit's mask shaped to multiply <paramref name="target"/>: itself per weight, one value per row per filter.</summary>
    private Tensor Expand(Tensor keep, Tensor target)
    {
        var k = keep.to_type(target.dtype);
        if (!Options.PerFilter) return k;
        var shape = new long[target.dim()];
        Array.Fill(shape, 1L);
        shape[0] = keep.shape[0];
        return k.view(shape);
    }

    private void SetLoopMask(TrainingLoop loop)
    {
        MaskSet next;
        using (var scope = NewDisposeScope())
            next = new MaskSet(prunable!, cat(units.Select(u => u.Keep.flatten().gt(HeldScalars.Of(0))).ToList(), 0).cpu());
        var previous = loop.Mask;
        loop.Mask = next;
        previous?.Dispose();
    }

    /// <summary>Fixes the masks, drops the auxiliaries and dense copies; per filter, removes the pruned filters.</summary>
    private void Freeze(TrainingLoop loop)
    {
        frozen = true;
        if (!Options.PerFilter)
        {
            SetLoopMask(loop);
            loop.Mask!.Apply();
            loop.Progress.Info($"step {loop.Steps}: autoprune froze its masks at sparsity {loop.Mask.Sparsity:P2}");
            Release();
            return;
        }
        var keep = new Dictionary<string, long[]>();
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            foreach (var u in units)
            {
                var kept = u.Keep.gt(HeldScalars.Of(0)).nonzero().flatten();
                if (kept.numel() == 0)
                {
                    // A group keeps at least one filter: the one whose auxiliary is highest, with its trained values.
                    long best = u.M.argmax().item<long>();
                    u.Keep[best] = tensor(1f, dtype: u.Keep.dtype, device: u.Keep.device);
                    foreach (var e in u.Entries)
                    {
                        e.Weight.copy_(e.Dense);
                        e.Weight.mul_(Expand(u.Keep, e.Weight));
                    }
                    kept = u.Keep.gt(HeldScalars.Of(0)).nonzero().flatten();
                }
                keep[u.Name] = kept.cpu().data<long>().ToArray();
            }
        }
        var old = loop.Model;
        var smaller = ((IStructuredModel)old).Shrink(keep, KeepFloor.One);
        long before = units.Sum(u => u.M.numel()), after = keep.Values.Sum(k => (long)k.Length);
        Release();
        loop.ReplaceModel(smaller);
        old.Dispose();
        loop.Progress.Info($"step {loop.Steps}: autoprune froze its masks and removed {before - after:N0} of {before:N0} filters");
    }

    private void Release()
    {
        foreach (var u in units)
        {
            foreach (var e in u.Entries) e.Dense.Dispose();
            u.M.Dispose();
            u.Buffer?.Dispose();
            u.Held?.Dispose();
        }
    }
}
