using Surgeon.Compression;

namespace Surgeon.Curvature;

/// <summary>
/// The empirical Fisher of a pruning context, built once from the dense model and the context's seed and options,
/// then shared by every method and sparsity that uses the same context (the sweep restores the dense weights first).
/// </summary>
internal static class FisherProvider
{
    private const string CacheKey = "empirical-fisher";
    private const string EstimateKey = "empirical-fisher-estimate";

    /// <summary>Fails now, with the message <see cref="For"/> would give later, when the context's Fisher cannot be built
    /// (too few training samples, not enough memory); computes nothing.</summary>
    public static void Check(PruningContext context, string method)
    {
        var o = context.Options;
        EmpiricalFisher.CheckRequest(context.Parameters, context.RequireTrainData(method), o.FisherSamples, o.ExamplesPerSample,
            o.Lambda, o.BlockSize);
    }

    /// <summary>
    /// The context's Fisher, built now if it is not cached yet, after printing the memory estimate for a method whose
    /// steps hold <paramref name="bookkeepingBytesPerWeight"/> bytes per weight beside it and run forward passes of
    /// <paramref name="lossEvaluationExamples"/> examples. When the Fisher is cached
    /// already (a sweep's later method) and this method needs more than the estimate printed, the larger one is printed.
    /// </summary>
    public static EmpiricalFisher Prepare(PruningContext context, string method, int bookkeepingBytesPerWeight = 0,
        int lossEvaluationExamples = 0, FisherWork work = FisherWork.Factors | FisherWork.KeptSetSolve)
    {
        var data = context.RequireTrainData(method);
        bool cached = context.Cache.ContainsKey(CacheKey);
        // The estimate grows with both figures, so a method that needs no more than one already printed for this
        // Fisher (every later point of a sweep) skips it: estimating runs a hooked forward pass.
        var printed = context.Cache.GetValueOrDefault(EstimateKey) as PrintedEstimate;
        if (cached && printed is not null && bookkeepingBytesPerWeight <= printed.BookkeepingBytesPerWeight
            && lossEvaluationExamples <= printed.LossEvaluationExamples && (work & ~printed.Work) == 0)
            return (EmpiricalFisher)context.Cache[CacheKey];
        var o = context.Options;
        var estimate = CurvatureMemory.Estimate(context.Model, context.Parameters, data.SampleShape, o.FisherSamples,
            o.ExamplesPerSample, EmpiricalFisher.MakeBlocks(context.Parameters, o.BlockSize), bookkeepingBytesPerWeight,
            lossEvaluationExamples, work, context.KeptFraction);
        if (!cached || (printed is not null && estimate.Peak > printed.Peak))
        {
            context.Progress.Info($"{method}: estimated peak memory {estimate.Peak / 1048576.0:N0} MiB above the model and data " +
                $"(G {estimate.G / 1048576.0:N0} MiB, per-weight bookkeeping {estimate.Bookkeeping / 1048576.0:N0} MiB" +
                (estimate.LossEvaluation > 0 ? $", loss forward passes {estimate.LossEvaluation / 1048576.0:N0} MiB)" : ")"));
            context.Cache[EstimateKey] = new PrintedEstimate(bookkeepingBytesPerWeight, lossEvaluationExamples, work, estimate.Peak);
        }
        return cached ? (EmpiricalFisher)context.Cache[CacheKey] : Build(context, data);
    }

    /// <summary>
    /// The context's Fisher for a step of the method being run (<see cref="PruningContext.Method"/>): prepared with that
    /// method's bookkeeping and loss batch, so the first step that asks prints the estimate and builds it; <paramref name="step"/>
    /// names the asker when no method is running (a method-blind estimate).
    /// </summary>
    public static EmpiricalFisher For(PruningContext context, string step)
    {
        var method = context.Method;
        return Prepare(context, method?.Name ?? step, method?.FisherBookkeepingBytesPerWeight ?? 0,
            method?.LossEvaluationExamples(context.Options) ?? 0, method?.FisherWork ?? FisherWork.Factors | FisherWork.KeptSetSolve);
    }

    /// <summary>What the last printed estimate was made for, and its peak.</summary>
    private sealed record PrintedEstimate(int BookkeepingBytesPerWeight, int LossEvaluationExamples, FisherWork Work, long Peak);

    private static EmpiricalFisher Build(PruningContext context, Data.ImageDataset data)
    {
        var o = context.Options;
        EmpiricalFisher fisher;
        if (context.FisherGradients is { } provided)
        {
            // Computed once by 'surgeon fisher' (the same GradientMatrix), checked against this run when the file was opened.
            var blocks = EmpiricalFisher.CheckRequest(context.Parameters, data, o.FisherSamples, o.ExamplesPerSample, o.Lambda, o.BlockSize);
            var g = provided(context.Seed);
            if (g.device.type != context.Device.type)
            {
                var moved = g.to(context.Device);
                g.Dispose();
                g = moved;
            }
            fisher = new EmpiricalFisher(g, o.Lambda, blocks);
        }
        else
        {
            fisher = EmpiricalFisher.FromData(context.Model, context.Parameters, data, o.FisherSamples, o.ExamplesPerSample,
                context.Seed, o.Lambda, o.BlockSize, context.Device, context.Progress);
        }
        context.Cache[CacheKey] = fisher;
        context.Progress.Info($"empirical Fisher: N = {fisher.N:N0} samples × d = {fisher.D:N0} weights, {fisher.Blocks.Count} block(s), λ = {fisher.Lambda:G3}");
        return fisher;
    }
}
