using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Progress;
using Surgeon.Pruning;
using Surgeon.Training;

namespace Surgeon.Tests.Curvature;

/// <summary>The memory estimate printed before a Fisher is built counts what the method keeps per weight beside it.</summary>
public class CurvatureMemoryTests
{
    private static PruningContext Context(RecordingProgress progress)
    {
        var model = TestModels.TinyMlp(inputs: 6, classes: 3, width: 0.2, seed: 5);
        return new PruningContext
        {
            Model = model,
            Parameters = PrunableParameters.Discover(model),
            TrainData = TestModels.RandomImages(200, 1, 2, 3, 3, seed: 9),
            Progress = progress,
            Options = new PruningOptions { FisherSamples = 50, CbsCandidates = 2, CbsLossSamples = 50, CbsRelativeEpsilon = true },
        };
    }

    /// <summary>The estimate a method gets on this context (the printed lines round the tiny net's bytes to 0 MiB).</summary>
    private static long Peak(PruningContext context, string method) =>
        CurvatureMemory.Estimate(context.Model, context.Parameters, context.TrainData!.SampleShape, context.Options.FisherSamples,
            1, EmpiricalFisher.MakeBlocks(context.Parameters, context.Options.BlockSize),
            PruningMethods.Get(method).FisherBookkeepingBytesPerWeight, PruningMethods.Get(method).LossEvaluationExamples(context.Options),
            PruningMethods.Get(method).FisherWork).Peak;

    [Fact]
    public void TheEstimateCountsOnlyTheWorkAMethodDoes_AndSizesTheKeptSetSolveByTheLowestSparsity()
    {
        var context = Context(new RecordingProgress());
        var blocks = EmpiricalFisher.MakeBlocks(context.Parameters, 0);
        Assert.Equal(FisherWork.KeptSetSolve, PruningMethods.Get("cbs").FisherWork);
        Assert.Equal(FisherWork.Factors, PruningMethods.Get("wf").FisherWork);
        Assert.Equal(FisherWork.Factors | FisherWork.KeptSetSolve, PruningMethods.Get("wf-s+cbs-u").FisherWork);
        CurvatureMemory Of(FisherWork work, double kept) =>
            CurvatureMemory.Estimate(context.Model, context.Parameters, [1, 2, 3], 50, 1, blocks, 0, 0, work, kept);
        var cbsDense = Of(FisherWork.KeptSetSolve, 1);
        var cbsSparse = Of(FisherWork.KeptSetSolve, 0.02);
        var wf = Of(FisherWork.Factors, 1);
        // CBS builds no cached factors, WoodFisher no kept-set system.
        Assert.Equal((0L, 0L), (cbsDense.Factors, cbsDense.FactorTransient));
        Assert.Equal(0L, wf.UpdateTransient);
        Assert.True(wf.Factors > 0 && wf.FactorTransient > 0);
        // Fewer kept weights, a smaller kept-set system (never below one column chunk's work).
        Assert.True(cbsSparse.UpdateTransient < cbsDense.UpdateTransient);
        Assert.True(cbsSparse.UpdateTransient > 0);
        // CHITA's IHT adds its support columns, N·L/4 float32s of the block (at most 64 MiB), and its active set's,
        // 3N·L/5 float32s (at most 64 MiB), to the kept-set work: 50·d + 120·d at N = 50.
        Assert.Equal(FisherWork.KeptSetSolve | FisherWork.SupportColumns, PruningMethods.Get("chita").FisherWork);
        long d = PrunableParameters.TotalCount(context.Parameters);
        Assert.Equal(170 * d, Of(FisherWork.KeptSetSolve | FisherWork.SupportColumns, 0.02).UpdateTransient - cbsSparse.UpdateTransient);
    }

    [Fact]
    public void Bookkeeping_IsTheMethodsBytesPerWeightTimesD_AndRaisesThePeakByAtMostThat()
    {
        var progress = new RecordingProgress();
        var context = Context(progress);
        long d = PrunableParameters.TotalCount(context.Parameters);
        var blocks = EmpiricalFisher.MakeBlocks(context.Parameters, 0);
        var bare = CurvatureMemory.Estimate(context.Model, context.Parameters, [1, 2, 3], 50, 1, blocks);
        var cbs = CurvatureMemory.Estimate(context.Model, context.Parameters, [1, 2, 3], 50, 1, blocks, 128);
        Assert.Equal(0, bare.Bookkeeping);
        Assert.Equal(128 * d, cbs.Bookkeeping);
        // The arrays sit beside the factors, not beside a gradient batch: the peak grows by the part that exceeds the batch.
        long factorPhase = bare.Factors + Math.Max(bare.FactorTransient, bare.UpdateTransient);
        Assert.Equal(bare.G + Math.Max(bare.GradientBatch, factorPhase + 128 * d), cbs.Peak);
        Assert.Equal(96 + 32, PruningMethods.Get("cbs").FisherBookkeepingBytesPerWeight);
        Assert.Equal(40 + 64, PruningMethods.Get("wf").FisherBookkeepingBytesPerWeight);
        Assert.Equal(0, PruningMethods.Get("mp").FisherBookkeepingBytesPerWeight);
        // CBS-S's real-loss forward passes: its loss samples, in evaluation batches of at most 500.
        Assert.Equal(300, PruningMethods.Get("cbs").LossEvaluationExamples(new PruningOptions { CbsLossSamples = 300 }));
        Assert.Equal(500, PruningMethods.Get("cbs").LossEvaluationExamples(new PruningOptions()));
        Assert.Equal(0, PruningMethods.Get("wf").LossEvaluationExamples(new PruningOptions()));
        var withForward = CurvatureMemory.Estimate(context.Model, context.Parameters, [1, 2, 3], 50, 1, blocks, 128, 400);
        Assert.True(withForward.LossEvaluation > 0 && withForward.LossEvaluation % 400 == 0);
    }

    [Fact]
    public void ASweepsLaterMethod_ThatNeedsMore_PrintsItsLargerEstimate_AndReusesTheFisher()
    {
        var progress = new RecordingProgress();
        var context = Context(progress);
        using var snapshot = new ModelSnapshot(context.Model);
        using (PruningMethods.Get("mp+cbs-u").Prune(context, 0.5)) { }  // the kept-set solve, 32 bytes per weight
        snapshot.Restore();
        var fisher = FisherProvider.For(context, "test");
        using (PruningMethods.Get("wf").Prune(context, 0.5)) { }        // the cached factors and 104 bytes: more
        snapshot.Restore();
        using (PruningMethods.Get("cbs").Prune(context, 0.5)) { }       // on this tiny net no more than wf: nothing printed
        Assert.Same(fisher, FisherProvider.For(context, "test"));
        var estimates = progress.Messages.Where(m => m.Contains("estimated peak memory", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, estimates.Count);
        Assert.StartsWith("mp+cbs-u: ", estimates[0], StringComparison.Ordinal);
        Assert.StartsWith("wf: ", estimates[1], StringComparison.Ordinal);
        Assert.True(Peak(context, "wf") > Peak(context, "mp+cbs-u"));
        Assert.True(Peak(context, "cbs") <= Peak(context, "wf"));
        Assert.Single(progress.Messages, m => m.StartsWith("empirical Fisher: N =", StringComparison.Ordinal));
        context.ReleaseCache();
    }
}
