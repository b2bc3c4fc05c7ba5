using Surgeon.Compression;
using Surgeon.Export.Onnx;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Tests.Models;
using Surgeon.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Every registry model, dense, filter-pruned (shrunk, through a checkpoint) and unstructured-pruned, exported to ONNX
/// and run in ONNX Runtime: its logits equal TorchSharp's eval-mode logits to 1e-4 on a random batch of 3. The
/// BatchNorms carry random running statistics and affine parameters, so folding them is really tested.
/// </summary>
public class OnnxExportTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string dir = Directory.CreateTempSubdirectory("onnx-export-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string, int, int, double> Models => new()
    {
        { "mlpnet", 1, 28, 1.0 },
        { "mlpnet", 3, 32, 0.25 },
        { "vgg13", 1, 28, 0.125 },
        { "vgg13", 3, 32, 0.125 },
        { "mobilenet-v1", 1, 28, 0.125 },
        { "mobilenet-v1", 3, 32, 0.125 },
        { "resnet20", 1, 28, 0.25 },
        { "resnet20", 3, 32, 0.25 },
        { "resnet56", 1, 28, 0.25 },
        { "resnet56", 3, 32, 0.25 },
        { "lenet5", 1, 28, 1.0 },
        { "lenet5", 3, 32, 0.5 },
        { "lenet300", 1, 28, 1.0 },
        { "lenet300", 3, 32, 0.25 },
    };

    [Fact]
    public void Matrix_CoversEveryRegistryModel() =>
        Assert.Equal(ModelRegistry.Names.Order(), Models.Select(row => (string)row[0]).Distinct().Order());

    [Theory]
    [MemberData(nameof(Models))]
    public void RegistryModel_RunsInOnnxRuntime_WithTorchSharpsLogits(string name, int channels, int side, double width)
    {
        var spec = new ModelSpec(name, [channels, side, side], 10, width);
        manual_seed(1);
        using var model = ModelRegistry.Create(spec);
        ConvModels.RandomiseNorms(model);
        AssertRoundTrip(model, spec, $"{name} {spec.InputShapeText} width {width}");
    }

    [Theory]
    [InlineData("vgg13", 0.125)]
    [InlineData("mobilenet-v1", 0.125)]
    [InlineData("resnet20", 0.25)]
    [InlineData("resnet56", 0.25)]
    [InlineData("lenet5", 0.5)]
    [InlineData("lenet300", 0.25)]
    public void FilterPrunedModel_LoadedFromItsCheckpoint_RunsInOnnxRuntime(string name, double width)
    {
        using var model = ConvModels.Create(name, [3, 32, 32], width);
        ConvModels.RandomiseNorms(model);
        // Keep every other channel of every removable filter group: every layer of the shrunk model changes size.
        var groups = ConvModels.Structured(model).FilterGroups.Where(g => g.Removable);
        var keep = groups.ToDictionary(g => g.Name, g => Enumerable.Range(0, g.Channels).Where(c => c % 2 == 0).Select(c => (long)c).ToArray());
        using var shrunk = ConvModels.Structured(model).Shrink(keep);
        var spec = ConvModels.Structured(shrunk).Spec;
        Assert.NotNull(spec.Channels);
        string path = Path.Combine(dir, "shrunk.ckpt");
        Checkpoint.Save(path, shrunk, new CheckpointInfo { Architecture = name, InputShape = [3, 32, 32], NumClasses = 10, Dataset = "random" }.WithSpec(spec));

        var (loaded, info) = Checkpoint.Load(path);
        using (loaded)
        {
            Assert.Equal(spec.Channels, info.Channels);
            AssertRoundTrip(loaded, info.Spec, $"{name} shrunk to channels {string.Join(',', spec.Channels!)}");
        }
    }

    [Fact]
    public void UnstructuredPrunedMlp_KeepsItsZeros_AndRunsInOnnxRuntime()
    {
        var spec = new ModelSpec("mlpnet", [1, 28, 28], 10);
        manual_seed(2);
        using var model = ModelRegistry.Create(spec);
        var parameters = PrunableParameters.Discover(model);
        using (var masks = PruningMethods.Get("mp").Prune(new PruningContext { Model = model, Parameters = parameters }, 0.9).Mask!)
            Assert.Equal(29_124, masks.PrunedCount); // ⌊0.9 · 32,360⌋

        var onnx = OnnxExport.Build(model, spec);
        long weights = onnx.Graph.Initializers.Sum(t => (long)t.Data.Length);
        long zeros = onnx.Graph.Initializers.Sum(t => (long)t.Data.Count(v => v == 0f));
        Assert.Equal(PrunableParameters.TotalCount(parameters), weights); // MLPNet has no biases: every initializer is a pruned weight
        Assert.Equal(29_124, zeros); // every pruned weight is an exact 0 in the graph, and no kept one is
        AssertRoundTrip(model, spec, "mlpnet pruned to 0.9 sparsity (global magnitude)");
    }

    [Theory]
    [InlineData("vgg13", 28, 9)]   // on 28×28 the last pool is skipped, so the last BN folds into the classifier
    [InlineData("vgg13", 32, 10)]  // on 32×32 a max-pool follows the last BN: every BN stays a node
    [InlineData("mobilenet-v1", 32, 0)]
    [InlineData("resnet20", 32, 0)]
    [InlineData("lenet5", 32, 0)]
    public void BatchNorms_AreFoldedWhereExact(string name, int side, int normNodes)
    {
        var spec = new ModelSpec(name, [3, side, side], 10, 0.125);
        using var model = ModelRegistry.Create(spec);
        var graph = OnnxExport.Build(model, spec).Graph;
        Assert.Equal(normNodes, graph.Nodes.Count(n => n.OpType == "BatchNormalization"));
        Assert.Equal(OnnxExport.OutputName, graph.Nodes[^1].Outputs[0]);
    }

    [Fact]
    public void Graph_HasASymbolicBatch_AndRunsAnyBatchSize()
    {
        var spec = new ModelSpec("resnet20", [3, 32, 32], 10, 0.25);
        manual_seed(3);
        using var model = ModelRegistry.Create(spec);
        ConvModels.RandomiseNorms(model);
        string path = Path.Combine(dir, "model.onnx");
        OnnxExport.Write(model, spec, path);
        using (var session = new Microsoft.ML.OnnxRuntime.InferenceSession(path))
        {
            var input = session.InputMetadata[OnnxExport.InputName];
            Assert.Equal(new[] { -1, 3, 32, 32 }, input.Dimensions);
            Assert.Equal("batch", input.SymbolicDimensions[0]);
            Assert.Equal(new[] { -1, 10 }, session.OutputMetadata[OnnxExport.OutputName].Dimensions);
        }
        foreach (int batch in new[] { 1, 5 })
            Assert.True(OnnxRuntimeRunner.CompareLogits(model, path, spec.InputShape, batch).MaxDelta <= Tolerance);
    }

    [Fact]
    public void UnknownFormat_ListsTheKnownOnes()
    {
        var e = Assert.Throws<SurgeonException>(() => Surgeon.Export.ExportFormats.Get("tflite"));
        Assert.Equal("unknown export format 'tflite': known formats are onnx, sparse, safetensors", e.Message);
        Assert.Equal("onnx", Surgeon.Export.ExportFormats.Get(" ONNX ").Name);
    }

    private void AssertRoundTrip(nn.Module<Tensor, Tensor> model, ModelSpec spec, string what)
    {
        string path = Path.Combine(dir, "model.onnx");
        var result = OnnxExport.Write(model, spec, path);
        Assert.Equal(new FileInfo(path).Length, result.Bytes);
        Assert.Empty(Directory.GetFiles(dir, ".*tmp*")); // the atomic write left no temporary file
        var (delta, scale) = OnnxRuntimeRunner.CompareLogits(model, path, spec.InputShape);
        output.WriteLine($"{what}: max |Δlogit| = {delta:E2}, max |logit| = {scale:G3} ({result.Details})");
        Assert.True(delta <= Tolerance, $"{what}: max |Δlogit| = {delta:E3} > {Tolerance}");
    }
}
