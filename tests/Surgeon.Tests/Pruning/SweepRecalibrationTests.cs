using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Pruning;

public class SweepRecalibrationTests
{
    [Fact]
    public void RecalibratedPoints_AreReportedAsMethodPlusBn_EqualTheDirectComputation_AndResumeComputesOnlyWhatIsMissing()
    {
        var data = TestModels.RandomImages(40, 1, 8, 8, 3, seed: 9);
        manual_seed(5);
        var model = ModelRegistry.Create(new ModelSpec("vgg13", [1, 8, 8], 3, 0.125));
        // A few train-mode passes so the running statistics are not the initial 0 / 1.
        using (no_grad())
        {
            model.train();
            for (int i = 0; i < 3; i++) model.forward(data.Batch(Enumerable.Range(0, 40).ToArray()).Inputs);
            model.eval();
        }
        SweepRunner Runner(IReadOnlyCollection<SweepPoint> done, List<SweepPoint> emitted) => new()
        {
            Model = model,
            TestData = data,
            TrainData = data,
            Methods = [PruningMethods.Get("mp")],
            Sparsities = [0.5],
            Seeds = [0],
            RecalibrateBnSamples = 24,
            Done = done,
            OnPoint = emitted.Add,
        };
        var emitted = new List<SweepPoint>();
        var (_, points) = Runner([], emitted).Run();
        Assert.Equal(["mp", "mp+bn"], points.Select(p => p.Method));
        Assert.Equal(points, emitted);

        // Independently: prune the same way, recalibrate, evaluate.
        using var snapshot = new ModelSnapshot(model);
        var context = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model), TrainData = data, Seed = 0 };
        using (PruningMethods.Get("mp").Prune(context, 0.5)) { }
        BatchNormRecalibration.Run(model, data, 24, seed: 0);
        var direct = Evaluator.Evaluate(model, data);
        snapshot.Restore();
        Assert.Equal(direct.Loss, points[1].Loss, 6);
        Assert.NotEqual(points[0].Loss, points[1].Loss);

        // A journal holding only the plain point: the rerun computes and emits only the recalibrated one.
        var resumed = new List<SweepPoint>();
        var (_, again) = Runner([points[0]], resumed).Run();
        Assert.Equal(["mp+bn"], resumed.Select(p => p.Method));
        Assert.Equal(points.Select(p => p.Loss), again.Select(p => p.Loss));
    }
}
