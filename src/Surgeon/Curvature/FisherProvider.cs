using Surgeon.Pruning;

namespace Surgeon.Curvature;

/// <summary>Marks a selection or update that uses the empirical Fisher (through <see cref="FisherProvider"/>).</summary>
public interface IUsesFisher;

/// <summary>
/// The empirical Fisher of a pruning context, built once from the dense model and the context's seed and options,
/// then shared by every method and sparsity that uses the same context (the sweep restores the dense weights first).
/// </summary>
public static class FisherProvider
{
    private const string CacheKey = "empirical-fisher";

    /// <summary>Fails now, with the message <see cref="For"/> would give later, when the context's Fisher cannot be built
    /// (too few training samples, not enough memory); computes nothing.</summary>
    public static void Check(PruningContext context, string method)
    {
        var o = context.Options;
        EmpiricalFisher.CheckRequest(context.Parameters, context.RequireTrainData(method), o.FisherSamples, o.ExamplesPerSample,
            o.Lambda, o.BlockSize);
    }

    public static EmpiricalFisher For(PruningContext context, string method)
    {
        if (context.Cache.TryGetValue(CacheKey, out var cached))
            return (EmpiricalFisher)cached;
        var data = context.RequireTrainData(method);
        var o = context.Options;
        var estimate = CurvatureMemory.Estimate(context.Model, context.Parameters, data.SampleShape, o.FisherSamples,
            o.ExamplesPerSample, EmpiricalFisher.MakeBlocks(context.Parameters, o.BlockSize));
        context.Progress.Info($"empirical Fisher: estimated peak memory {estimate.Peak / 1048576.0:N0} MiB above the model and data " +
            $"(G {estimate.G / 1048576.0:N0} MiB)");
        var fisher = EmpiricalFisher.FromData(context.Model, context.Parameters, data, o.FisherSamples, o.ExamplesPerSample,
            context.Seed, o.Lambda, o.BlockSize, context.Device, context.Progress);
        context.Cache[CacheKey] = fisher;
        context.Progress.Info($"empirical Fisher: N = {fisher.N:N0} samples × d = {fisher.D:N0} weights, {fisher.Blocks.Count} block(s), λ = {fisher.Lambda:G3}");
        return fisher;
    }
}
