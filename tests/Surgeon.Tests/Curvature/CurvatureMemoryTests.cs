using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Progress;
using Surgeon.Pruning;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

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
    public void ConvModelsLossForward_IsOneChunkOfLayerOutputsPlusTheBatchsInputs_WhileAnMlpsGrowsWithTheBatch()
    {
        // conv 1→4 (3×3, pad 1) → ReLU → flatten → linear 4·6·6 → 3, on 1×6×6 inputs: per example the layer outputs are
        // 144 + 144 + 144 + 3 floats and the conv's unfolded input 9·36 floats.
        torch.manual_seed(3);
        var conv = nn.Sequential(nn.Conv2d(1, 4, 3, padding: 1), nn.ReLU(), nn.Flatten(), nn.Linear(144, 3));
        var parameters = PrunableParameters.Discover(conv);
        long LossForward(nn.Module<torch.Tensor, torch.Tensor> model, IReadOnlyList<PrunableParameter> ps, int[] shape, int examples) =>
            CurvatureMemory.Estimate(model, ps, shape, 20, 1, EmpiricalFisher.MakeBlocks(ps, 0), 0, examples).LossEvaluation;
        long activations = 4 * (144 + 144 + 144 + 3), unfold = 4 * 9 * 36, input = 4 * 36;
        Assert.Equal(EvalForward.ConvChunk * (activations + unfold) + 500 * input, LossForward(conv, parameters, [1, 6, 6], 500));
        Assert.Equal(EvalForward.ConvChunk * (activations + unfold) + 100 * input, LossForward(conv, parameters, [1, 6, 6], 100));
        Assert.Equal(10 * activations, LossForward(conv, parameters, [1, 6, 6], 10)); // one chunk or less: the batch as it is
        // An MLP runs its batch whole: the layer outputs of every example.
        var context = Context(new RecordingProgress());
        long mlp500 = LossForward(context.Model, context.Parameters, [1, 2, 3], 500);
        Assert.Equal(5 * LossForward(context.Model, context.Parameters, [1, 2, 3], 100), mlp500);
    }

    [Fact]
    public void FactorWork_IsTheInPlaceBuildOrDiagFLambdaInverse_NotASecondCopyOfTheSystem()
    {
        // One Woodbury block of d = 32,360 weights at N = 8,000 (MLPNet digits): forming the factor in place costs one
        // 32 MiB float32 product and the factorisation's panel (2 × 512 × N float64), diag(F_λ⁻¹) three 64 MiB column
        // chunks; the larger is the work beside the cached 8·N² factor.
        var context = Context(new RecordingProgress());
        var woodbury = CurvatureMemory.Estimate(context.Model, context.Parameters, [1, 2, 3], 8000, 1,
            [new FisherBlock(0, 32360)], 0, 0, FisherWork.Factors);
        Assert.Equal(8L * 8000 * 8000, woodbury.Factors);
        long build = (32L << 20) + 16L * 512 * 8000, diagonal = 3 * (64L << 20);
        Assert.Equal(Math.Max(build, diagonal), woodbury.FactorTransient);
        // A direct block (L ≤ N): its inverse and cholesky_inverse's copy of the factor, 16·L².
        var direct = CurvatureMemory.Estimate(context.Model, context.Parameters, [1, 2, 3], 8000, 1,
            [new FisherBlock(0, 3000)], 0, 0, FisherWork.Factors);
        Assert.Equal(8L * 3000 * 3000, direct.Factors);
        Assert.Equal(16L * 3000 * 3000, direct.FactorTransient);
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
        using (PruningMethods.Get("wf-s").Prune(context, 0.5)) { }      // the same factors and fewer bytes: nothing printed
        Assert.Same(fisher, FisherProvider.For(context, "test"));
        // (the test's own method-blind request for the Fisher may print its estimate too: it is no method of the sweep)
        var estimates = progress.Messages.Where(m => m.Contains("estimated peak memory", StringComparison.Ordinal)
            && !m.StartsWith("test: ", StringComparison.Ordinal)).ToList();
        Assert.True(2 == estimates.Count, string.Join(" | ", estimates));
        Assert.StartsWith("mp+cbs-u: ", estimates[0], StringComparison.Ordinal);
        Assert.StartsWith("wf: ", estimates[1], StringComparison.Ordinal);
        Assert.True(Peak(context, "wf") > Peak(context, "mp+cbs-u"));
        Assert.True(Peak(context, "wf-s") <= Peak(context, "wf"));
        Assert.Single(progress.Messages, m => m.StartsWith("empirical Fisher: N =", StringComparison.Ordinal));
        context.ReleaseCache();
    }
}
