using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Quantization;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// ADMM quantisation (recipe name admm-quant; the quantisation step of Ma, Yuan et al., arXiv:1908.10017, after Leng et
/// al.'s ADMM splitting): the same loss + ρ/2 Σ‖W_i − Z_i + U_i‖² as <see cref="AdmmPruningModifier"/>, with S_i the
/// b-bit grid: the Z-step puts W_i + U_i on the grid whose scale has the least squared error (the quantisation layer's
/// <see cref="WeightQuantizer"/>, MSE clipping search by default) and multiplies by the held mask, so a pruned weight's Z is
/// 0 and stays 0. After the last round the weights are hard-quantised (W = Q(W) on a grid searched on W itself, times
/// the mask) and the rest of the run keeps them there: after every optimiser step each weight is put back on its fixed
/// grid (a weight moves only when an update crosses half a grid step; biases train freely). <see cref="Grids"/> holds the
/// final grids by weight name for the checkpoint's compression state.
/// </summary>
internal sealed class AdmmQuantizationModifier(WeightQuantizationSettings settings, AdmmSchedule schedule) : TrainingModifier
{
    private List<PrunableParameter>? parameters;
    private List<Tensor>? z, u, masks;
    private long startStep = -1;
    private int roundsDone;
    private double rho;
    private readonly Dictionary<string, TensorQuantization> grids = new(StringComparer.Ordinal);

    public override string Name => "admm-quant";
    public override ActiveRange Range => new(Schedule.StartEpoch, null, InSteps: false);
    public WeightQuantizationSettings Settings { get; } = settings;
    public AdmmSchedule Schedule { get; } = schedule;
    public PrunableSet Prunable { get; init; } = PrunableSet.All;
    public List<AdmmRound> History { get; } = [];
    public bool HardQuantized { get; private set; }
    /// <summary>After the hard quantisation: each weight's grid by its name ("fc1.weight").</summary>
    public IReadOnlyDictionary<string, TensorQuantization> Grids => grids;

    public override void RunStart(TrainingLoop loop)
    {
        Schedule.Validate();
        Settings.Validate();
        rho = Schedule.Rho;
        long end = Schedule.EndStep(loop.BatchesPerEpoch);
        if (end > loop.TotalSteps)
            throw new SurgeonException($"ADMM quantisation's {Schedule.Rounds} rounds of {Schedule.Interval} {(Schedule.InSteps ? "steps" : "epochs")} from epoch {Schedule.StartEpoch} end at step {end}, but training has only {loop.TotalSteps} ({loop.Options.Epochs} epochs × {loop.BatchesPerEpoch} batches)");
    }

    public override void EpochStart(TrainingLoop loop)
    {
        if (startStep < 0 && loop.EpochsDone + 1 == Schedule.StartEpoch) Begin(loop);
    }

    public override Tensor? ExtraLoss(TrainingLoop loop, Tensor logits, Tensor labels)
    {
        if (startStep < 0 || HardQuantized) return null;
        Tensor? sum = null;
        for (int i = 0; i < parameters!.Count; i++)
        {
            var d = parameters[i].Weight.add(u![i], HeldScalars.One).add(z![i].neg(), HeldScalars.One);
            var term = d.Squared().sum();
            sum = sum is null ? term : sum.add(term, HeldScalars.One);
        }
        return sum?.mul(HeldScalars.Of(rho / 2));
    }

    public override void AfterStep(TrainingLoop loop)
    {
        if (startStep < 0) return;
        if (HardQuantized) { Snap(); return; }
        ApplyMasks();
        if (Schedule.InSteps && (loop.Steps - startStep) % Schedule.Interval == 0) EndRound(loop);
    }

    public override void EpochEnd(TrainingLoop loop, EpochStats stats)
    {
        if (startStep < 0 || HardQuantized || Schedule.InSteps) return;
        if ((loop.EpochsDone - (Schedule.StartEpoch - 1)) % Schedule.Interval == 0) EndRound(loop);
    }

    /// <summary>The mask held from here on: the run's (a pruned checkpoint's, or one an earlier modifier made), else the
    /// model's zeros. Z_0 = Π(W), U_0 = 0.</summary>
    private void Begin(TrainingLoop loop)
    {
        startStep = loop.Steps;
        parameters = PrunableParameters.Discover(loop.Model, Prunable).ToList();
        var held = loop.Mask is { } m && m.Total == PrunableParameters.TotalCount(parameters) ? m : null;
        using var pattern = held is null ? FixedMaskModifier.NonzeroPattern(parameters) : null;
        var mask = held ?? pattern!;
        masks = parameters.Select((p, i) => mask.LayerMask(i).to(p.Weight.device).to_type(p.Weight.dtype).DetachFromDisposeScope()).ToList();
        z = [];
        u = [];
        using var _ = no_grad();
        for (int i = 0; i < parameters.Count; i++)
        {
            var w = parameters[i].Weight.detach();
            z.Add(Project(w, i).DetachFromDisposeScope());
            u.Add(zeros_like(w).DetachFromDisposeScope());
        }
    }

    /// <summary>Π(x) for layer <paramref name="i"/>: x ⊙ mask on the best-scale grid of x ⊙ mask, times the mask.</summary>
    private Tensor Project(Tensor x, int i, bool keepGrid = false)
    {
        using var scope = NewDisposeScope();
        var masked = x.mul(masks![i]);
        var grid = WeightQuantizer.Compute(masked, Settings, parameters![i].Name);
        if (keepGrid) grids[parameters[i].Name] = grid;
        return UniformQuantizer.FakeQuantize(masked.to(ScalarType.Float32), grid).to(x.dtype).mul_(masks[i]).MoveToOuterDisposeScope();
    }

    private void ApplyMasks()
    {
        using var _ = no_grad();
        for (int i = 0; i < parameters!.Count; i++) parameters[i].Weight.mul_(masks![i]);
    }

    private void EndRound(TrainingLoop loop)
    {
        double residual = 0;
        using (var scope = NewDisposeScope())
        using (no_grad())
            for (int i = 0; i < parameters!.Count; i++)
            {
                var w = parameters[i].Weight.detach();
                var next = Project(w.add(u![i], HeldScalars.One), i);
                z![i].copy_(next);
                var gap = w.add(next.neg(), HeldScalars.One);
                u[i].add_(gap, HeldScalars.One);
                residual += gap.to_type(ScalarType.Float64).Squared().sum().item<double>();
            }
        roundsDone++;
        History.Add(new AdmmRound(roundsDone, rho, Math.Sqrt(residual)));
        loop.Progress.Info($"ADMM quantisation round {roundsDone}/{Schedule.Rounds}: ρ {rho:G3}, ‖W − Z‖ {Math.Sqrt(residual):G4}");
        rho *= Schedule.RhoGrowth;
        if (roundsDone < Schedule.Rounds) return;
        HardQuantized = true;
        using (var scope = NewDisposeScope())
        using (no_grad())
            for (int i = 0; i < parameters.Count; i++)
                parameters[i].Weight.copy_(Project(parameters[i].Weight.detach(), i, keepGrid: true));
        string what = $"ADMM quantisation: weights on {Settings.Describe()} grids";
        loop.Progress.Info(what);
        loop.Announce(what);
    }

    /// <summary>Puts every weight back on its fixed grid (and its mask).</summary>
    private void Snap()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < parameters!.Count; i++)
        {
            var w = parameters[i].Weight;
            w.copy_(UniformQuantizer.FakeQuantize(w.detach().to(ScalarType.Float32), grids[parameters[i].Name]).to(w.dtype).mul_(masks![i]));
        }
    }
}
