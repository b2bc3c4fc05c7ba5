using Surgeon.Api;
using Surgeon.Tests.Export;
using Surgeon.Tests.Models.Onnx;
using static TorchSharp.torch;

namespace Surgeon.Tests.Api;

/// <summary>The facade's common path, each step checked against a computation of its own (sorting the weights, ONNX
/// Runtime, a reload), not against the facade.</summary>
public class CompressionSessionTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("surgeon-api-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static float[] PrunableWeights(CompressionSession s) =>
        s.Model.named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal) && p.parameter.dim() > 1)
            .SelectMany(p => p.parameter.detach().flatten().data<float>().ToArray()).ToArray();

    [Fact]
    public void MagnitudePruning_ZeroesExactlyTheSmallestWeights_AndExportsWhatItEvaluates()
    {
        using var session = CompressionSession.Train("mlpnet", epochs: 1, seed: 3);
        var before = PrunableWeights(session);
        var summary = session.Prune("mp", 0.8);

        // Independently: sort |w| of the dense model; the ⌊0.8·d⌋ smallest are the zeros (ties aside, none here).
        var after = PrunableWeights(session);
        int k = (int)Math.Floor(0.8 * before.Length);
        var order = Enumerable.Range(0, before.Length).OrderBy(i => Math.Abs(before[i])).ToArray();
        Assert.All(order.Take(k), i => Assert.Equal(0f, after[i]));
        Assert.All(order.Skip(k), i => Assert.Equal(before[i], after[i]));
        Assert.Equal((double)k / before.Length, session.Sparsity, 12);
        Assert.Equal(session.Evaluate().Accuracy, summary.AccuracyAfter, 12);
        Assert.True(summary.AccuracyBefore > 0.5, $"one epoch on digits gave {summary.AccuracyBefore:P2}");

        string onnx = Path.Combine(dir, "m.onnx");
        session.ExportOnnx(onnx);
        var (delta, scale) = OnnxRuntimeRunner.CompareLogits(session.Model, onnx, [1, 28, 28]);
        Assert.True(delta <= 1e-4 * Math.Max(1, scale), $"ONNX Runtime differs by {delta:G3}");
    }

    [Fact]
    public void ASavedCheckpoint_ReloadsWithItsMask_AndAWeightPrunedOnceStaysPruned()
    {
        string path = Path.Combine(dir, "m.ckpt");
        double accuracy;
        using (var session = CompressionSession.Train("mlpnet", epochs: 1, seed: 4))
        {
            session.Prune("mp", 0.5);
            session.SaveCheckpoint(path);
            accuracy = session.Evaluate().Accuracy;
        }
        using var reloaded = CompressionSession.FromCheckpoint(path);
        Assert.Equal(0.5, reloaded.Sparsity, 3);
        Assert.Equal(accuracy, reloaded.Evaluate().Accuracy, 12);
        var first = PrunableWeights(reloaded);
        reloaded.Prune("lmp", 0.7); // another method: what mp pruned stays pruned
        var second = PrunableWeights(reloaded);
        Assert.All(Enumerable.Range(0, first.Length).Where(i => first[i] == 0), i => Assert.Equal(0f, second[i]));
        Assert.Equal(0.7, reloaded.Sparsity, 3);
    }

    [Fact]
    public void FineTuningAfterPruning_KeepsThePrunedWeightsZero_AndTrainsTheOthers()
    {
        using var session = CompressionSession.Train("mlpnet", epochs: 1, seed: 7);
        session.Prune("mp", 0.8);
        var pruned = PrunableWeights(session);
        session.Finetune(epochs: 1);
        var tuned = PrunableWeights(session);
        Assert.All(Enumerable.Range(0, pruned.Length).Where(i => pruned[i] == 0), i => Assert.Equal(0f, tuned[i]));
        Assert.True(Enumerable.Range(0, pruned.Length).Count(i => pruned[i] != 0 && tuned[i] != pruned[i]) > pruned.Length / 10,
            "fine-tuning changed almost none of the kept weights");
        Assert.Equal((double)pruned.Count(w => w == 0) / pruned.Length, session.Sparsity, 12);
    }

    [Fact]
    public void AnImportedOnnxGraph_PrunesAndExports_AsOnnxRuntimeComputes()
    {
        using var session = CompressionSession.FromOnnx(ImportFixtures.Onnx("mlp"));
        session.Prune("mp", 0.6);
        Assert.Equal(0.6, session.Sparsity, 3);
        string onnx = Path.Combine(dir, "mlp-pruned.onnx");
        session.ExportOnnx(onnx);
        var (delta, scale) = OnnxRuntimeRunner.CompareLogits(session.Model, onnx, [1, 28, 28]);
        Assert.True(delta <= 1e-4 * Math.Max(1, scale), $"ONNX Runtime differs by {delta:G3}");
        var e = Assert.Throws<SurgeonException>(() => session.SaveCheckpoint(Path.Combine(dir, "x.ckpt")));
        Assert.Contains("ExportOnnx", e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(dir, "x.ckpt")));
    }

    [Fact]
    public void QuantisedWeights_AreTheHandComputedGrid_InEvaluationAndInTheExport()
    {
        using var session = CompressionSession.Train("mlpnet", epochs: 1, seed: 6);
        session.Prune("mp", 0.5);
        string onnx = Path.Combine(dir, "q.onnx");
        session.QuantizeWeights(bits: 8, perChannel: true);
        session.ExportOnnx(onnx);
        double accuracy = session.Evaluate().Accuracy;

        // By hand: per output row, symmetric 8-bit, scale max|w|/127, w' = round(w/scale)·scale, on a copy of the model.
        using var copy = Surgeon.Models.ModelRegistry.Create(new Surgeon.Models.ModelSpec("mlpnet", [1, 28, 28], 10));
        copy.load_state_dict(session.Model.state_dict());
        using (no_grad())
            foreach (var (name, p) in copy.named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal)))
            {
                var w = p.detach().to(ScalarType.Float64);
                var scale = w.abs().amax([1], keepdim: true).div(tensor(127.0));
                p.copy_(w.div(scale).round().mul(scale).to(ScalarType.Float32));
            }
        Assert.Equal(Surgeon.Training.Evaluator.Evaluate(copy, Surgeon.Data.DatasetCatalog.LoadEmbeddedDigits().Test).Accuracy, accuracy, 3);
        var (delta, scaleOfLogits) = OnnxRuntimeRunner.CompareLogits(copy, onnx, [1, 28, 28]);
        Assert.True(delta <= 1e-4 * Math.Max(1, scaleOfLogits), $"the QDQ export differs from the hand-quantised weights by {delta:G3}");
    }

    [Fact]
    public void DataThatDoNotFitTheGraph_AreTheCommandLinesOneLineError()
    {
        string data = Path.Combine(dir, "small");
        Surgeon.Tests.Cli.CliCheckpointFixture.WriteIdxFolder(data, side: 6, train: 8, test: 4);
        var e = Assert.Throws<SurgeonException>(() => CompressionSession.FromOnnx(ImportFixtures.Onnx("mlp"), data));
        Assert.StartsWith("mlp.onnx takes 1×28×28 inputs but ", e.Message, StringComparison.Ordinal);
        Assert.EndsWith(" has 1×6×6; pick a dataset of its input shape", e.Message, StringComparison.Ordinal);
        var r = Surgeon.Tests.Cli.CliRunner.Run(dir, "eval", "--onnx", ImportFixtures.Onnx("mlp"), "--data", data);
        Surgeon.Tests.Cli.CliRunner.AssertCleanError(r, e.Message); // the library's check is the command line's
    }

    [Fact]
    public void BadInput_IsOneLineErrors()
    {
        Assert.Throws<SurgeonException>(() => CompressionSession.FromCheckpoint(Path.Combine(dir, "missing.ckpt")));
        Assert.Throws<SurgeonException>(() => CompressionSession.Train("no-such-model", epochs: 0));
        using var session = CompressionSession.Train("mlpnet", epochs: 0);
        Assert.Throws<SurgeonException>(() => session.Prune("no-such-method", 0.5));
        Assert.Throws<SurgeonException>(() => session.Prune("mp", 1.0));
        session.QuantizeWeights(8);
        var e = Assert.Throws<SurgeonException>(() => session.Prune("mp", 0.5));
        Assert.DoesNotContain('\n', e.Message);
    }
}
