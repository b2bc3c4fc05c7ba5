using System.Globalization;
using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Numerics;
using Surgeon.Selection;
using Surgeon.Selection.Projections;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>When ADMM runs: from the start of epoch <paramref name="StartEpoch"/> (1-based), <paramref name="Rounds"/>
/// rounds of <paramref name="Interval"/> epochs (or optimiser steps), each ending with a Z-step and a dual step;
/// ρ is multiplied by <paramref name="RhoGrowth"/> after every round.</summary>
internal sealed record AdmmSchedule(double Rho, double RhoGrowth, int Rounds, int Interval, bool InSteps, int StartEpoch = 1)
{
    public void Validate()
    {
        string Num(double x) => x.ToString("G6", CultureInfo.InvariantCulture);
        if (!(Rho > 0) || !double.IsFinite(Rho)) throw new SurgeonException($"ADMM's penalty ρ must be positive, got {Num(Rho)}");
        if (!(RhoGrowth >= 1) || !double.IsFinite(RhoGrowth)) throw new SurgeonException($"ADMM's ρ growth factor must be ≥ 1, got {Num(RhoGrowth)}");
        if (Rounds < 1) throw new SurgeonException($"ADMM needs at least 1 round, got {Rounds}");
        if (Interval < 1) throw new SurgeonException($"ADMM's interval must be at least 1 {(InSteps ? "step" : "epoch")}, got {Interval}");
        if (StartEpoch < 1) throw new SurgeonException($"ADMM's start epoch is 1-based, got {StartEpoch}");
    }

    /// <summary>The optimiser step at which the last round ends (the hard prune).</summary>
    public long EndStep(int batchesPerEpoch) => (long)(StartEpoch - 1) * batchesPerEpoch + (long)Rounds * Interval * (InSteps ? 1 : batchesPerEpoch);
}

/// <summary>One ADMM round: ρ during it and the primal residual Σ‖W − Z‖ after its Z-step (over layers and constraints, ℓ2).</summary>
internal sealed record AdmmRound(int Round, double Rho, double Residual);

/// <summary>
/// ADMM pruning (recipe name admm; Zhang et al., "A Systematic DNN Weight Pruning Framework using ADMM", ECCV 2018,
/// arXiv:1804.03294; the structured sets and P-RM of Ma et al., arXiv:1905.00136). Training minimises
/// loss + Σ_i Σ_j ρ/2 ‖W_i − Z_ij + U_ij‖² (the W-step is the loop's ordinary SGD steps; the penalty comes in through
/// <see cref="ExtraLoss"/>); at the end of every round Z_ij = Π_{S_ij}(W_i + U_ij) and U_ij += W_i − Z_ij, and ρ grows.
/// After the last round the weights are hard-pruned to Z's support (the AND over a layer's constraints, and over a mask
/// the run already held), optionally purified (<see cref="NetworkPurification"/>) and cut down by unused-path removal
/// (<see cref="UnusedPathRemoval"/>, the model is replaced by the smaller one), and the rest of the run retrains with
/// that mask held at exact zeros.
/// </summary>
internal sealed class AdmmPruningModifier(AdmmLayerPlan plan, AdmmSchedule schedule) : TrainingModifier
{
    private sealed class LayerState(PrunableParameter parameter, IReadOnlyList<AdmmConstraint> constraints)
    {
        public PrunableParameter Parameter { get; } = parameter;
        public IReadOnlyList<AdmmConstraint> Constraints { get; } = constraints;
        public List<Tensor> Z { get; } = [];
        public List<Tensor> U { get; } = [];
    }

    private List<LayerState>? layers;
    private long startStep = -1;
    private int roundsDone;
    private double rho;

    public override string Name => "admm";
    public override bool OwnsMask => true;
    public override ActiveRange Range => new(Schedule.StartEpoch, null, InSteps: false);
    public AdmmLayerPlan Plan { get; } = plan;
    public AdmmSchedule Schedule { get; } = schedule;
    public PrunableSet Prunable { get; init; } = PrunableSet.All;
    /// <summary>τ of network purification after the hard prune; null: none.</summary>
    public double? PurifyThreshold { get; init; }
    public bool RemoveUnusedPaths { get; init; }

    /// <summary>Every round so far, with its residual ‖W − Z‖.</summary>
    public List<AdmmRound> History { get; } = [];
    public bool HardPruned { get; private set; }
    /// <summary>After the hard prune: the purification rows and the unused-path result (if those steps ran).</summary>
    public IReadOnlyList<PurifiedLayer>? Purified { get; private set; }
    public UnusedPathResult? UnusedPaths { get; private set; }

    /// <summary>The auxiliaries Z and duals U of layer <paramref name="layer"/>, constraint <paramref name="constraint"/>
    /// (as the last round left them; for tests and reports).</summary>
    public (Tensor Z, Tensor U) State(int layer, int constraint) => (layers![layer].Z[constraint], layers[layer].U[constraint]);

    public override void RunStart(TrainingLoop loop)
    {
        Schedule.Validate();
        Plan.Validate();
        if (PurifyThreshold is { } tau && !(tau > 0 && tau <= 1))
            throw new SurgeonException($"the purification threshold must be in (0, 1], got {tau.ToString("G6", CultureInfo.InvariantCulture)}");
        if (RemoveUnusedPaths && loop.Model is not IStructuredModel)
            throw new SurgeonException($"unused-path removal needs a model with filter groups; a {loop.Model.GetType().Name} has none");
        long end = Schedule.EndStep(loop.BatchesPerEpoch);
        if (end > loop.TotalSteps)
            throw new SurgeonException($"ADMM's {Schedule.Rounds} rounds of {Schedule.Interval} {(Schedule.InSteps ? "steps" : "epochs")} from epoch {Schedule.StartEpoch} end at step {end}, but training has only {loop.TotalSteps} ({loop.Options.Epochs} epochs × {loop.BatchesPerEpoch} batches)");
        var parameters = PrunableParameters.Discover(loop.Model, Prunable);
        var constraints = Plan.For(parameters); // a projection that does not fit a layer fails here, before any step
        layers = parameters.Select((p, i) => new LayerState(p, constraints[i])).ToList();
        rho = Schedule.Rho;
    }

    public override void EpochStart(TrainingLoop loop)
    {
        if (startStep < 0 && loop.EpochsDone + 1 == Schedule.StartEpoch) Begin(loop);
    }

    public override Tensor? ExtraLoss(TrainingLoop loop, Tensor logits, Tensor labels)
    {
        if (startStep < 0 || HardPruned) return null;
        Tensor? sum = null;
        foreach (var layer in layers!)
            for (int j = 0; j < layer.Constraints.Count; j++)
            {
                var w = layer.Parameter.Weight;
                var d = w.add(layer.U[j], HeldScalars.One).add(layer.Z[j].neg(), HeldScalars.One);
                var term = d.Squared().sum();
                sum = sum is null ? term : sum.add(term, HeldScalars.One);
            }
        return sum?.mul(HeldScalars.Of(rho / 2));
    }

    public override void AfterStep(TrainingLoop loop)
    {
        if (HardPruned) { loop.Mask?.Apply(); return; }
        loop.Mask?.Apply(); // a mask the run already held (a pruned checkpoint) stays held during ADMM
        if (startStep >= 0 && Schedule.InSteps && (loop.Steps - startStep) % Schedule.Interval == 0) EndRound(loop);
    }

    public override void EpochEnd(TrainingLoop loop, EpochStats stats)
    {
        if (startStep < 0 || HardPruned || Schedule.InSteps) return;
        if ((loop.EpochsDone - (Schedule.StartEpoch - 1)) % Schedule.Interval == 0) EndRound(loop);
    }

    /// <summary>Z_0 = Π_S(W), U_0 = 0.</summary>
    private void Begin(TrainingLoop loop)
    {
        startStep = loop.Steps;
        using var _ = no_grad();
        foreach (var layer in layers!)
            foreach (var c in layer.Constraints)
            {
                var w = layer.Parameter.Weight.detach();
                layer.Z.Add(c.Projection.Project(w, c.Keep, layer.Parameter.Name).DetachFromDisposeScope());
                layer.U.Add(zeros_like(w).DetachFromDisposeScope());
            }
    }

    /// <summary>The Z-step and dual step of one round; after the last one, the hard prune.</summary>
    private void EndRound(TrainingLoop loop)
    {
        double residual = 0;
        using (var scope = NewDisposeScope())
        using (no_grad())
            foreach (var layer in layers!)
                for (int j = 0; j < layer.Constraints.Count; j++)
                {
                    var c = layer.Constraints[j];
                    var w = layer.Parameter.Weight.detach();
                    var z = c.Projection.Project(w.add(layer.U[j], HeldScalars.One), c.Keep, layer.Parameter.Name);
                    layer.Z[j].copy_(z);
                    var gap = w.add(z.neg(), HeldScalars.One);
                    layer.U[j].add_(gap, HeldScalars.One);
                    residual += gap.to_type(ScalarType.Float64).Squared().sum().item<double>();
                }
        roundsDone++;
        History.Add(new AdmmRound(roundsDone, rho, Math.Sqrt(residual)));
        loop.Progress.Info($"ADMM round {roundsDone}/{Schedule.Rounds}: ρ {rho:G3}, ‖W − Z‖ {Math.Sqrt(residual):G4}");
        rho *= Schedule.RhoGrowth;
        if (roundsDone == Schedule.Rounds) HardPrune(loop);
    }

    private void HardPrune(TrainingLoop loop)
    {
        HardPruned = true;
        var parameters = layers!.Select(l => l.Parameter).ToList();
        MaskSet mask;
        using (var scope = NewDisposeScope())
        {
            var keep = layers!.Select(l => CombinedConstraints.HardPruneMask(l.Z.Select(z => z.ne(HeldScalars.Of(0))).ToList()).flatten().cpu()).ToList();
            var flat = cat(keep, 0);
            if (loop.Mask is { } held && held.Total == flat.numel()) flat = flat.logical_and(held.Keep);
            mask = new MaskSet(parameters, flat);
        }
        mask.Apply();
        string what = $"ADMM hard prune: sparsity {mask.Sparsity:P2}";
        if (PurifyThreshold is { } tau)
        {
            var (purified, rows) = NetworkPurification.Purify(mask, tau, PurifiedGroups.Filters, PurifiedGroups.Columns);
            mask.Dispose();
            mask = purified;
            Purified = rows;
            what += $", purified to {mask.Sparsity:P2}";
        }
        loop.Mask?.Dispose();
        loop.Mask = mask;
        if (RemoveUnusedPaths)
        {
            var result = UnusedPathRemoval.Run(loop.Model);
            UnusedPaths = result;
            loop.Mask.Dispose();
            loop.Mask = null;
            loop.ReplaceModel(result.Model);
            // The smaller model's zeros are the pruned weights that remain (a kept weight is never exactly 0 after training).
            loop.Mask = FixedMaskModifier.NonzeroPattern(PrunableParameters.Discover(loop.Model, Prunable));
            what += $", unused paths removed ({result.ChannelsRemoved} channels)";
        }
        loop.Progress.Info(what);
        loop.Announce(what);
    }
}
