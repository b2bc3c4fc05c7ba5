using Surgeon.Data;
using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>Fine-tuning, the lower bound: one MLP whose body every task trains further (nothing protects the earlier
/// tasks), with a head per task.</summary>
internal sealed class FineTuneMethod : ContinualMethod
{
    private MultiTaskMlp? model;

    public override string Name => "finetune";

    public override void Learn(int task, ContinualTask data, ContinualTrainer trainer)
    {
        var o = trainer.Options;
        model ??= new MultiTaskMlp(InputsOf(data.Train), o.Hidden, data.Classes, biasPerTask: false);
        model.AddTask();
        trainer.Train(model, [.. model.SharedParameters, .. model.TaskParameters(task)], data.Train, o.EpochsOf(task),
            o.LearningRateOf(task), task, $"task {task + 1}: fine-tune");
    }

    public override Tensor Logits(int task, Tensor inputs)
    {
        var m = model ?? throw new SurgeonException("no task learnt yet");
        m.Task = task;
        return m.call(inputs);
    }

    public override long StoredParameters => model?.parameters().Sum(p => p.numel()) ?? 0;

    public override void Dispose() => model?.Dispose();
}

/// <summary>Independent models, the upper bound on accuracy (and on memory): a fresh MLP per task.</summary>
internal sealed class IndependentMethod : ContinualMethod
{
    private readonly List<MultiTaskMlp> models = [];

    public override string Name => "independent";

    public override void Learn(int task, ContinualTask data, ContinualTrainer trainer)
    {
        var o = trainer.Options;
        var model = new MultiTaskMlp(InputsOf(data.Train), o.Hidden, data.Classes, biasPerTask: false);
        model.AddTask();
        models.Add(model);
        trainer.Train(model, [.. model.parameters()], data.Train, o.EpochsOf(task), o.LearningRateOf(task), task, $"task {task + 1}: own model");
    }

    public override Tensor Logits(int task, Tensor inputs) => models[task].call(inputs);

    public override long StoredParameters => models.Sum(m => m.parameters().Sum(p => p.numel()));

    public override void Dispose()
    {
        foreach (var m in models) m.Dispose();
    }
}
