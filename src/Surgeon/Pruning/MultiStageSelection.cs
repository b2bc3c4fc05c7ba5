using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>How the intermediate targets of a multi-stage prune grow towards the final sparsity s over S stages.</summary>
internal enum StageSchedule
{
    /// <summary>s_t = 1 − (1 − s)^(t/S): the density shrinks by the same factor each stage (CHITA++'s choice).</summary>
    Exponential,
    /// <summary>s_t = s·(1 − (1 − t/S)³): the cubic schedule of gradual pruning (Zhu and Gupta), large steps first.</summary>
    Polynomial,
    /// <summary>s_t = s·t/S.</summary>
    Linear,
}

/// <summary>
/// Multi-stage one-shot pruning (CHITA++, Benbaki et al. 2023): reach the target in S stages, each a full run of the
/// inner method (selection and update) on the weights the previous stage left, with the per-sample gradients and the
/// Fisher recomputed at those weights (a fresh context per stage; no SGD in between). Each stage draws its own N
/// samples (seed + <see cref="StageSeedStride"/>·(t − 1); the authors' code reads a new shuffled batch each stage), so
/// the weights are not fitted to one sample of N over and over. Weights pruned by a stage stay
/// pruned for the rules and for CHITA (they read <see cref="PruningContext.Mask"/>); the last stage prunes exactly
/// k = ⌊s·d⌋. Spelt <c>msS[-exp|-poly|-lin]:method</c>, e.g. <c>ms4-exp:chita</c>, <c>ms3-lin:wf</c> (exponential by default).
/// </summary>
internal sealed class MultiStageSelection : IJointSelection
{
    public MultiStageSelection(int stages, StageSchedule schedule, PruningMethod inner)
    {
        if (stages < 1) throw new SurgeonException($"a multi-stage prune needs at least 1 stage, got {stages}");
        if (inner.PrunesFilters) throw new SurgeonException($"{inner.Name} removes whole filters; multi-stage works on weight-level methods");
        if (inner.Selection is MultiStageSelection) throw new SurgeonException("a multi-stage method cannot nest another multi-stage method");
        Stages = stages;
        Schedule = schedule;
        Inner = inner;
    }

    public int Stages { get; }
    public StageSchedule Schedule { get; }
    public PruningMethod Inner { get; }

    public string Name => $"ms{Stages}-{ScheduleName(Schedule)}:{Inner.Name}";
    public string Description => $"{Inner.Name} in {Stages} stages on the {Schedule.ToString().ToLowerInvariant()} schedule, gradients recomputed at the pruned weights between stages";
    public StageNeeds Needs => Inner.Needs;

    public void Check(PruningContext context) => Inner.Check(context);

    public static string ScheduleName(StageSchedule schedule) => schedule switch
    {
        StageSchedule.Exponential => "exp",
        StageSchedule.Polynomial => "poly",
        _ => "lin",
    };

    /// <summary>Weights pruned after stage t (1-based) of S when the final count is <paramref name="finalCount"/> of
    /// <paramref name="total"/>: non-decreasing in t, exactly the final count at t = S.</summary>
    public static long CountAfter(int t, int stages, StageSchedule schedule, long finalCount, long total)
    {
        if (t >= stages) return finalCount;
        double s = (double)finalCount / total, f = (double)t / stages;
        double st = schedule switch
        {
            StageSchedule.Exponential => 1 - Math.Pow(1 - s, f),
            StageSchedule.Polynomial => s * (1 - Math.Pow(1 - f, 3)),
            _ => s * f,
        };
        return Math.Min(finalCount, (long)Math.Floor(st * total));
    }

    public Tensor SelectKeep(PruningContext context, PruneTarget target)
    {
        long total = PrunableParameters.TotalCount(context.Parameters);
        long finalCount = target.CountOf(total);
        MaskSet? mask = context.Mask;
        try
        {
            long previous = mask?.PrunedCount ?? 0;
            for (int t = 1; t <= Stages; t++)
            {
                long count = Math.Max(previous, CountAfter(t, Stages, Schedule, finalCount, total));
                var stage = StageContext(context, mask, t);
                try
                {
                    context.Progress.Info($"{Name}: stage {t} of {Stages}, pruning {count:N0} of {total:N0} weights");
                    var result = Inner.Prune(stage, new PruneTarget((double)count / total, count));
                    if (!ReferenceEquals(mask, context.Mask)) mask?.Dispose();
                    mask = result.Mask;
                }
                finally
                {
                    stage.ReleaseCache();
                }
                previous = count;
            }
            return mask!.Keep.clone();
        }
        finally
        {
            if (!ReferenceEquals(mask, context.Mask)) mask?.Dispose();
        }
    }

    /// <summary>Seed offset between stages: stage t (1-based) samples with seed + stride·(t − 1).</summary>
    public const int StageSeedStride = 7919;

    /// <summary>A context like <paramref name="context"/> but with an empty cache (so the Fisher is rebuilt at the current
    /// weights), the mask so far and stage <paramref name="t"/>'s seed.</summary>
    public static PruningContext StageContext(PruningContext context, MaskSet? mask, int t = 1) => new()
    {
        Model = context.Model,
        Parameters = context.Parameters,
        TrainData = context.TrainData,
        Seed = context.Seed + StageSeedStride * (t - 1),
        Device = context.Device,
        Progress = context.Progress,
        Options = context.Options,
        Mask = mask,
        ScoreData = context.ScoreData,
        MaskedChannels = context.MaskedChannels,
    };
}
