using Onnx;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Export.Onnx;
using Surgeon.Models.Onnx;
using Surgeon.Pruning;
using Surgeon.Tests.Models.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// Imported graphs written back as ONNX (<see cref="OnnxGraphExport"/>), unpruned and after unstructured pruning:
/// ONNX Runtime, running the written file, gives the logits Surgeon's imported model gives, to 1e-4; the file keeps
/// the original node and initializer names, and every pruned weight is an exact zero in it.
/// </summary>
public class OnnxGraphExportTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-4;
    private readonly string dir = Directory.CreateTempSubdirectory("onnx-graph-export-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string> Fixtures => new(ImportFixtures.OnnxModels);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void AnUnprunedGraphExportsAsItCame(string name)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        string path = Path.Combine(dir, name + ".onnx");
        OnnxGraphExport.Write(model, path);
        var original = ImportFixtures.Proto(name);
        var written = OnnxFile.Read(path);
        Assert.Equal(original.Graph.Node.Select(n => (n.Name, n.OpType, string.Join(',', n.Input), string.Join(',', n.Output))),
            written.Graph.Node.Select(n => (n.Name, n.OpType, string.Join(',', n.Input), string.Join(',', n.Output))));
        Assert.Equal(original.Graph.Initializer.Select(t => t.Name).Order(), written.Graph.Initializer.Select(t => t.Name).Order());
        var x = ImportFixtures.Input();
        var (fromOriginal, _) = ImportFixtures.RunOrt(ImportFixtures.Onnx(name), x);
        var (fromWritten, _) = ImportFixtures.RunOrt(path, x);
        double delta = ImportFixtures.MaxDelta(fromOriginal, fromWritten);
        output.WriteLine($"{name}: max |Δ| between ONNX Runtime on the original and on the written file {delta:E2}");
        Assert.True(delta <= Tolerance);
    }

    [Theory]
    [InlineData("resnet", "mp", 0.6)]
    [InlineData("dwsep", "lmp", 0.5)]
    [InlineData("concat", "mp", 0.7)]
    [InlineData("mlp", "wf", 0.8)]
    [InlineData("lenet-bn", "snip", 0.5)]
    public void AfterUnstructuredPruningOnnxRuntimeAgreesWithSurgeon(string name, string method, double sparsity)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        var parameters = PrunableParameters.Discover(model);
        var (train, _) = DatasetCatalog.LoadEmbeddedDigits();
        var context = new PruningContext
        {
            Model = model,
            Parameters = parameters,
            TrainData = train,
            Seed = 3,
            Options = new PruningOptions { FisherSamples = 64, ScoreSamples = 64 },
        };
        using var result = PruningMethods.Get(method).Prune(context, sparsity);
        Assert.Same(model, result.Model);
        long pruned = result.Mask!.PrunedCount;
        Assert.Equal((long)Math.Floor(sparsity * PrunableParameters.TotalCount(parameters)), pruned);
        string path = Path.Combine(dir, $"{name}-{method}.onnx");
        OnnxGraphExport.Write(model, path);

        // Every pruned weight is an exact zero in the written file (the prunable weights are its ≥ 2-D layer initializers).
        var written = OnnxFile.Read(path);
        long zeros = written.Graph.Initializer.Where(t => t.Dims.Count >= 2 && parameters.Any(p => p.Weight.numel() == t.Dims.Aggregate(1L, (a, b) => a * b)))
            .Sum(t => OnnxTensors.ToTensor(t, "test").eq(0).sum().item<long>());
        Assert.True(zeros >= pruned, $"{zeros} zeros in the file, {pruned} weights pruned");

        var x = ImportFixtures.Input();
        var surgeon = ImportFixtures.Logits(model, x);
        var (ort, _) = ImportFixtures.RunOrt(path, x);
        var (dense, _) = ImportFixtures.RunOrt(ImportFixtures.Onnx(name), x);
        double delta = ImportFixtures.MaxDelta(surgeon, ort), change = ImportFixtures.MaxDelta(dense, ort);
        output.WriteLine($"{name} {method}@{sparsity}: max |Δ| Surgeon vs ONNX Runtime {delta:E2}; pruning moved the logits by {change:F4}");
        Assert.True(change > 1e-3, "pruning did not change the written graph's logits: the export may have written the dense weights");
        Assert.True(delta <= Tolerance, $"ONNX Runtime differs from Surgeon by {delta:E3}");
    }

    /// <summary>A constant operand of Mul and Add (not a layer weight) is a buffer the forward reads: the logits scale and shift as ONNX Runtime's do.</summary>
    [Fact]
    public void ConstantOperandsRunAndExport()
    {
        using var scope = NewDisposeScope();
        var proto = ImportFixtures.Proto("lenet-bn");
        var graph = proto.Graph;
        var last = graph.Node.Last();
        last.Output[0] = "raw_logits";
        graph.Initializer.Add(OnnxTensors.FromTensor("scale", linspace(0.5, 2.0, 10)));
        graph.Initializer.Add(OnnxTensors.FromTensor("shift", linspace(-1.0, 1.0, 10).reshape(1, 10)));
        var mul = new NodeProto { Name = "scale_logits", OpType = "Mul" };
        mul.Input.Add("raw_logits");
        mul.Input.Add("scale");
        mul.Output.Add("scaled");
        var add = new NodeProto { Name = "shift_logits", OpType = "Add" };
        add.Input.Add("shift");
        add.Input.Add("scaled");
        add.Output.Add("logits");
        graph.Node.Add(mul);
        graph.Node.Add(add);
        string source = Path.Combine(dir, "scaled.onnx");
        File.WriteAllBytes(source, Google.Protobuf.MessageExtensions.ToByteArray(proto));
        using var model = new OnnxGraphModel(OnnxFile.Read(source), "scaled.onnx");
        using var plain = ImportFixtures.Load("lenet-bn");
        var x = ImportFixtures.Input();
        var expected = TensorData(plain, x).mul(linspace(0.5, 2.0, 10)).add(linspace(-1.0, 1.0, 10), Surgeon.Numerics.HeldScalars.One);
        var surgeon = ImportFixtures.Logits(model, x);
        Assert.True(ImportFixtures.MaxDelta(Surgeon.Export.TensorData.Floats(expected), surgeon) <= Tolerance);
        var (ort, _) = ImportFixtures.RunOrt(source, x);
        Assert.True(ImportFixtures.MaxDelta(ort, surgeon) <= Tolerance);
    }

    private static Tensor TensorData(nn.Module<Tensor, Tensor> model, Tensor x) =>
        tensor(ImportFixtures.Logits(model, x), [x.shape[0], 10]);
}
