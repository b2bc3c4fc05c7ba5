using Surgeon.Data;
using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>
/// Incremental rank updates (Hyder et al., ECCV 2022): the first task learns rank-r₁ factors per hidden layer, each
/// later task a rank-r₂ update, its selector over all factors so far, its biases and its head, with every earlier
/// parameter frozen (<see cref="RankUpdateMlp"/>). No earlier task's output can change.
/// </summary>
internal sealed class RankUpdateMethod : ContinualMethod
{
    private RankUpdateMlp? model;

    public override string Name => "rank-update";
    public RankUpdateMlp? Model => model;

    public override void Learn(int task, ContinualTask data, ContinualTrainer trainer)
    {
        var o = trainer.Options;
        model ??= new RankUpdateMlp(InputsOf(data.Train), o.Hidden, data.Classes);
        if (task != model.TaskCount) throw new SurgeonException($"task {task + 1} comes after task {model.TaskCount}");
        if (data.Classes != model.Classes) throw new SurgeonException($"every task needs {model.Classes} classes; {data.Name} has {data.Classes}");
        var parameters = model.AddTask(task == 0 ? o.RankFirst : o.RankNext);
        trainer.Train(model, parameters, data.Train, o.EpochsOf(task), o.LearningRateOf(task), task, $"task {task + 1}: rank update");
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
