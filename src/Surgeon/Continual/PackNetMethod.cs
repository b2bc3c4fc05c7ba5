using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Numerics;
using Surgeon.Pruning;
using Surgeon.Scoring;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>
/// PackNet (Mallya and Lazebnik, CVPR 2018): one MLP whose hidden weights the tasks own in turn. Task t takes every free
/// weight, trains them (the weights of earlier tasks are used but frozen), prunes the fraction of them a Surgeon score
/// ranks lowest in each layer (freeing them, at zero, for later tasks), retrains the survivors, and from then on owns
/// them. Task t sees the weights of tasks 1…t only; biases and heads are per task. The weight-to-task map costs
/// ⌈log₂(T + 1)⌉ bits per hidden weight.
/// </summary>
internal sealed class PackNetMethod : ContinualMethod
{
    private MultiTaskMlp? model;
    private readonly List<Tensor> owners = []; // per hidden layer: 0 = free, k = owned by task k (1-based)

    public override string Name => "packnet";
    public MultiTaskMlp? Model => model;

    /// <summary>Per hidden layer, the 1-based task owning each weight (0 = free).</summary>
    public IReadOnlyList<Tensor> Owners => owners;

    public override void Learn(int task, ContinualTask data, ContinualTrainer trainer)
    {
        var o = trainer.Options;
        var method = PruningMethods.Get(o.PruneMethod);
        var score = method.Score ?? throw new SurgeonException(
            $"PackNet prunes by a score; '{o.PruneMethod}' is a joint selection ({method.Canonical}); give a score such as mp, snip or wf-s");
        if (model is null)
        {
            model = new MultiTaskMlp(InputsOf(data.Train), o.Hidden, data.Classes, biasPerTask: true);
            owners.AddRange(model.HiddenWeights.Select(w => zeros(w.shape, ScalarType.Int32)));
            model.WeightMask = l => Visible(l, model.Task);
        }
        model.AddTask();
        int id = task + 1;
        foreach (var owner in owners) owner.masked_fill_(owner.eq(HeldScalars.Of(0)), HeldScalars.Of(id));
        var weights = model.HiddenWeights;
        var trainable = new List<Parameter>([.. weights, .. model.TaskParameters(task)]);
        var (afterBackward, afterStep) = Hooks(id);
        trainer.Train(model, trainable, data.Train, o.EpochsOf(task), o.LearningRateOf(task), task, $"task {task + 1}: PackNet train", afterBackward, afterStep);
        Prune(id, score, data.Train, o);
        (afterBackward, afterStep) = Hooks(id); // the survivors only; the freed weights stay at zero
        trainer.Train(model, trainable, data.Train, o.RetrainEpochs, o.LearningRateOf(task), 1000 + task, $"task {task + 1}: PackNet retrain", afterBackward, afterStep);
    }

    private (Action AfterBackward, Action AfterStep) Hooks(int id)
    {
        var weights = model!.HiddenWeights;
        var mine = owners.Select(o => o.eq(HeldScalars.Of(id))).ToList();
        var frozen = weights.Select(w => w.detach().clone()).ToList();
        void AfterBackward()
        {
            using var _ = no_grad();
            for (int l = 0; l < weights.Count; l++)
            {
                using var grad = weights[l].grad;
                grad?.mul_(mine[l]);
            }
        }
        void AfterStep()
        {
            // Adam moves nothing whose gradient was always zero, but the frozen values are put back regardless, so an
            // earlier task's weights are bit-identical whatever the optimiser does.
            using var _ = no_grad();
            for (int l = 0; l < weights.Count; l++)
                weights[l].copy_(where(mine[l], weights[l], frozen[l]));
        }
        return (AfterBackward, AfterStep);
    }

    /// <summary>The 0/1 view task <paramref name="task"/> (0-based) has of hidden layer <paramref name="layer"/>: the
    /// weights of tasks 1…task+1.</summary>
    private Tensor Visible(int layer, int task) => owners[layer].ge(HeldScalars.One).logical_and(owners[layer].le(HeldScalars.Of(task + 1))).to_type(ScalarType.Float32);

    /// <summary>In each hidden layer, frees ⌊fraction·n⌋ of the n weights task <paramref name="id"/> holds, the lowest by
    /// <paramref name="score"/> (ties by position), setting them to zero.</summary>
    private void Prune(int id, IScore score, ImageDataset train, ContinualOptions o)
    {
        var m = model!;
        m.Task = id - 1;
        var parameters = PrunableParameters.Discover(m);
        if (parameters.Count != owners.Count)
            throw new SurgeonException($"PackNet expected {owners.Count} prunable hidden layers, found {parameters.Count}");
        var context = new PruningContext { Model = m, Parameters = parameters, TrainData = train, Seed = o.Seed + id };
        using var scope = NewDisposeScope();
        var flat = WeightScores.Compute(score, context);
        context.ReleaseCache();
        long offset = 0;
        using var _ = no_grad();
        for (int l = 0; l < owners.Count; l++)
        {
            long n = parameters[l].Count;
            var scores = flat.narrow(0, offset, n).cpu().data<double>().ToArray();
            offset += n;
            var own = owners[l].flatten().eq(HeldScalars.Of(id)).cpu().data<bool>().ToArray();
            var freed = FreeLowest(scores, own, o.PruneFraction);
            if (freed.Length == 0) continue;
            var pruned = tensor(freed);
            owners[l].view(-1).index_fill_(0, pruned, HeldScalars.Of(0));
            parameters[l].Weight.view(-1).index_fill_(0, pruned, HeldScalars.Of(0));
        }
    }

    /// <summary>The positions to free: ⌊fraction·n⌋ of the n positions marked <paramref name="own"/>, those with the
    /// lowest scores (ties by position).</summary>
    public static long[] FreeLowest(double[] scores, bool[] own, double fraction)
    {
        var candidates = Enumerable.Range(0, own.Length).Where(i => own[i]).OrderBy(i => scores[i]).ThenBy(i => i).ToArray();
        int k = (int)Math.Floor(fraction * candidates.Length);
        return candidates[..k].Select(i => (long)i).Order().ToArray();
    }

    public override Tensor Logits(int task, Tensor inputs)
    {
        var m = model ?? throw new SurgeonException("no task learnt yet");
        m.Task = task;
        return m.call(inputs);
    }

    public override long StoredParameters => model?.parameters().Sum(p => p.numel()) ?? 0;

    public override long ExtraBytes
    {
        get
        {
            if (model is null) return 0;
            int bits = (int)Math.Ceiling(Math.Log2(model.TaskCount + 1));
            return (owners.Sum(o => o.numel()) * bits + 7) / 8;
        }
    }

    public override void Dispose()
    {
        model?.Dispose();
        foreach (var o in owners) o.Dispose();
    }
}
