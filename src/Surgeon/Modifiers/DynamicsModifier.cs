using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Scoring;
using Surgeon.Training;

namespace Surgeon.Modifiers;

/// <summary>
/// Records the training dynamics of Lubana &amp; Dick's analysis into a <see cref="DynamicsLog"/>: before training,
/// after every epoch, at every announced event (a pruning round, with the test result right after it) and, when asked,
/// every k optimiser steps: loss, accuracy, ‖θ‖², θᵀg, ‖g‖², θᵀHg over a fixed seeded sample of training data, and the
/// model's nonzero parameters and FLOPs. An observer: put it after the modifiers that change the model.
/// </summary>
internal sealed class DynamicsModifier(DynamicsLog log) : TrainingModifier
{
    private ScoringData? data;

    public override string Name => "dynamics";
    public DynamicsLog Log { get; } = log;
    /// <summary>Training samples (at most; fewer when the training set is smaller) for the gradient-flow quantities;
    /// 0 records loss and size only.</summary>
    public int Samples { get; init; } = 500;
    /// <summary>Also record every this many optimiser steps; 0 = once per epoch.</summary>
    public int EverySteps { get; init; }

    /// <summary>Throws a one-line error for a negative sample count or step interval.</summary>
    public void Validate()
    {
        if (Samples < 0)
            throw new SurgeonException($"--dynamics-samples must be ≥ 0, got {Samples}");
        if (EverySteps < 0)
            throw new SurgeonException($"--dynamics-every must be ≥ 0, got {EverySteps}");
    }

    public override void RunStart(TrainingLoop loop)
    {
        Validate();
        var train = loop.TrainData;
        data = Samples == 0
            ? null
            : ScoringData.FromDataset(train, train.RandomSubset(Math.Min(Samples, train.Count), loop.Options.Seed + 2), device: loop.Device);
        Log.Add(Record(loop) with { Event = "initialisation" });
    }

    public override void AfterStep(TrainingLoop loop)
    {
        if (EverySteps > 0 && loop.Steps % EverySteps == 0)
            Log.Add(Record(loop) with { Event = "step" });
    }

    public override void EpochEnd(TrainingLoop loop, EpochStats stats) => Log.Add(Record(loop) with
    {
        LearningRate = stats.LearningRate,
        TrainLoss = stats.TrainLoss,
        TrainAccuracy = stats.TrainAccuracy,
        TestLoss = stats.TestLoss,
        TestAccuracy = stats.TestAccuracy,
    });

    public override void Event(TrainingLoop loop, string what, EvalResult? test)
    {
        var record = Record(loop) with { Event = what };
        if (test is not null) record = record with { TestLoss = test.Loss, TestAccuracy = test.Accuracy };
        Log.Add(record);
    }

    private DynamicsRecord Record(TrainingLoop loop)
    {
        var model = loop.Model;
        var cost = ModelCost.Measure(model, loop.TrainData.SampleShape);
        var record = new DynamicsRecord { Epoch = loop.EpochsDone, Step = loop.Steps, Parameters = cost.NonzeroParameters, Flops = cost.NonzeroFlops };
        if (data is null) return record;
        var stats = GradientFlowStats.Compute(model, data);
        return record with
        {
            ThetaNormSquared = stats.ParamNormSquared,
            ThetaDotGrad = stats.ThetaDotGrad,
            GradNormSquared = stats.GradNormSquared,
            ThetaHessGrad = stats.ThetaHessGrad,
        };
    }
}
