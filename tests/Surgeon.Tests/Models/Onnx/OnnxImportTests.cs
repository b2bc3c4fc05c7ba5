using Google.Protobuf;
using Onnx;
using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Models.Onnx;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models.Onnx;

/// <summary>
/// Graphs PyTorch exported (scripts/make-import-fixtures.py) imported as TorchSharp modules: their logits equal ONNX
/// Runtime's on the original file and PyTorch's own, to 1e-4; the imported layers train and give per-sample gradients
/// like a registry model's.
/// </summary>
public class OnnxImportTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Fixtures => new(ImportFixtures.OnnxModels);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void LogitsEqualOnnxRuntimeAndPyTorch(string name)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        var x = ImportFixtures.Input();
        var surgeon = ImportFixtures.Logits(model, x);
        var (ort, shape) = ImportFixtures.RunOrt(ImportFixtures.Onnx(name), x);
        var (torch, torchShape) = ImportFixtures.PyTorchLogits(name);
        Assert.Equal([4L, 10L], shape);
        Assert.Equal([4L, 10L], torchShape);
        Assert.True(torch.Max(MathF.Abs) > 0.05f, "the logits are all near zero: the comparison would prove nothing");
        double toOrt = ImportFixtures.MaxDelta(surgeon, ort), toTorch = ImportFixtures.MaxDelta(surgeon, torch);
        output.WriteLine($"{name}: max |Δ| to ONNX Runtime {toOrt:E2}, to PyTorch {toTorch:E2}, max |logit| {torch.Max(MathF.Abs):F3}");
        Assert.True(toOrt <= Tolerance, $"{name}: ONNX Runtime differs by {toOrt:E3}");
        Assert.True(toTorch <= Tolerance, $"{name}: PyTorch differs by {toTorch:E3}");
        Assert.Equal([1, 28, 28], model.InputShape);
        Assert.Equal(10, model.NumClasses);
    }

    /// <summary>The fixtures exercise the operators they were written for (a fixture that lost one would pass vacuously).</summary>
    [Theory]
    [InlineData("mlp", "Gemm,MatMul,Add,Relu,Tanh,Reshape")]
    [InlineData("lenet-bn", "Conv,BatchNormalization,Relu,MaxPool,Flatten,Gemm")]
    [InlineData("resnet", "Conv,BatchNormalization,Add,Relu,GlobalAveragePool,Gemm")]
    [InlineData("dwsep", "Conv,BatchNormalization,Clip,GlobalAveragePool,Gemm")]
    [InlineData("concat", "Conv,BatchNormalization,LeakyRelu,Sigmoid,Mul,Concat,AveragePool,GlobalAveragePool,Flatten,Gemm")]
    public void FixturesHoldTheirOperators(string name, string operators)
    {
        var ops = ImportFixtures.Proto(name).Graph.Node.Select(n => n.OpType).ToHashSet();
        output.WriteLine($"{name}: {string.Join(", ", ops.Order())}");
        foreach (string op in operators.Split(','))
            Assert.Contains(op, ops);
    }

    [Fact]
    public void LayersArePrunableModulesNamedAfterTheirWeights()
    {
        using var model = ImportFixtures.Load("lenet-bn");
        var names = PrunableParameters.Discover(model).Select(p => p.Name).ToList();
        Assert.Equal(["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"], names);
        using var mlp = ImportFixtures.Load("mlp");
        // The MatMul + Add pair is one Linear whose weight is the MatMul's matrix transposed.
        var linear = PrunableParameters.Discover(mlp).Select(p => (p.Name, string.Join('x', p.Shape))).ToList();
        Assert.Equal(3, linear.Count);
        Assert.Contains(("fc1.weight", "32x784"), linear);
        Assert.Contains(("fc3.weight", "10x24"), linear);
        Assert.Contains(linear, l => l.Item2 == "24x32");
    }

    /// <summary>The imported graph's per-sample gradients (fast hooked rule) equal a loop of one backward per sample.</summary>
    [Theory]
    [InlineData("resnet")]
    [InlineData("concat")]
    [InlineData("mlp")]
    public void PerSampleGradientsMatchTheLoop(string name)
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load(name);
        var parameters = PrunableParameters.Discover(model);
        var x = ImportFixtures.Input();
        var y = tensor(new long[] { 3, 1, 4, 1 });
        var fast = PerSampleGradients.Compute(model, parameters, x, y);
        var loop = PerSampleGradients.ComputeByLoop(model, parameters, x, y);
        double scale = loop.abs().max().item<float>();
        double delta = fast.sub(loop).abs().max().item<float>();
        output.WriteLine($"{name}: max |Δ| {delta:E2} of max {scale:E2}");
        Assert.True(scale > 1e-4);
        Assert.True(delta <= 1e-5 * Math.Max(1, scale), $"per-sample gradients differ by {delta:E3}");
    }

    /// <summary>A few SGD steps on one batch lower its loss: gradients reach every layer of the graph.</summary>
    [Fact]
    public void TheImportedGraphTrains()
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load("resnet");
        model.train();
        var x = ImportFixtures.Input();
        var y = tensor(new long[] { 3, 1, 4, 1 });
        var optimizer = optim.SGD(model.parameters(), 0.05);
        double first = 0, last = 0;
        for (int step = 0; step < 10; step++)
        {
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x), y);
            loss.backward();
            if (step == 0)
                foreach (var (pname, p) in model.named_parameters())
                    Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"{pname} got no gradient");
            optimizer.step();
            last = loss.item<float>();
            if (step == 0) first = last;
        }
        output.WriteLine($"loss {first:F4} → {last:F4}");
        Assert.True(last < first * 0.8, $"loss {first} → {last}");
    }

    [Fact]
    public void ATruncatedFileIsOneLine()
    {
        var bytes = File.ReadAllBytes(ImportFixtures.Onnx("lenet-bn"));
        var e = Assert.Throws<SurgeonException>(() => OnnxFile.Parse(bytes[..(bytes.Length / 2)], "cut.onnx", "."));
        AssertOneLine(e, "cut.onnx");
    }

    [Theory]
    [InlineData("mlpnet.pt")]
    [InlineData("input.npy")]
    public void AFileOfAnotherFormatIsOneLine(string file)
    {
        var e = Assert.Throws<SurgeonException>(() => OnnxFile.Read(ImportFixtures.PathOf(file)));
        AssertOneLine(e, "not an ONNX model");
    }

    [Fact]
    public void TextIsNotAnOnnxModel()
    {
        var e = Assert.Throws<SurgeonException>(() => OnnxFile.Parse("hello, this is not a model\n"u8.ToArray(), "hello.onnx", "."));
        AssertOneLine(e, "not an ONNX model");
    }

    [Fact]
    public void AnUnsupportedOperatorNamesItselfAndItsNode()
    {
        var proto = ImportFixtures.Proto("resnet");
        var relu = proto.Graph.Node.First(n => n.OpType == "Relu");
        relu.OpType = "Elu";
        var e = Assert.Throws<SurgeonException>(() => new OnnxGraphModel(proto, "resnet.onnx"));
        AssertOneLine(e, "Elu");
        Assert.Contains(relu.Name, e.Message);
    }

    [Fact]
    public void MissingExternalDataIsOneLine()
    {
        var proto = ImportFixtures.Proto("lenet-bn");
        var weight = proto.Graph.Initializer.First(t => t.Name == "conv2.weight");
        weight.RawData = ByteString.Empty;
        weight.DataLocation = TensorProto.Types.DataLocation.External;
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "lenet-bn.weights" });
        var dir = Directory.CreateTempSubdirectory("onnx-external-").FullName;
        try
        {
            var e = Assert.Throws<SurgeonException>(() => OnnxFile.Parse(proto.ToByteArray(), "lenet-bn.onnx", dir));
            AssertOneLine(e, "lenet-bn.weights");
            Assert.Contains("conv2.weight", e.Message);
            // Present, the external file is read in: the model imports with the same logits as the original.
            var original = ImportFixtures.Proto("lenet-bn").Graph.Initializer.First(t => t.Name == "conv2.weight");
            File.WriteAllBytes(Path.Combine(dir, "lenet-bn.weights"), [.. new byte[16], .. original.RawData.ToByteArray()]);
            weight.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "16" });
            var read = OnnxFile.Parse(proto.ToByteArray(), "lenet-bn.onnx", dir);
            using var model = new OnnxGraphModel(read, "lenet-bn.onnx");
            using var reference = ImportFixtures.Load("lenet-bn");
            var x = ImportFixtures.Input();
            Assert.Equal(ImportFixtures.Logits(reference, x), ImportFixtures.Logits(model, x));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AGraphOutOfOrderIsOneLine()
    {
        var proto = ImportFixtures.Proto("mlp");
        var nodes = proto.Graph.Node.ToList();
        proto.Graph.Node.Clear();
        proto.Graph.Node.AddRange(nodes.AsEnumerable().Reverse());
        var e = Assert.Throws<SurgeonException>(() => new OnnxGraphModel(proto, "mlp.onnx"));
        AssertOneLine(e, "mlp.onnx");
    }

    [Fact]
    public void AWeightOfTheWrongShapeIsRefusedBeforeLibTorchSeesIt()
    {
        var proto = ImportFixtures.Proto("lenet-bn");
        // conv2 now expects 7 input channels where conv1 gives 6: the probe forward at import finds it.
        var weight = proto.Graph.Initializer.First(t => t.Name == "conv2.weight");
        weight.Dims[1] = 7;
        weight.RawData = ByteString.CopyFrom(new byte[12 * 7 * 5 * 5 * sizeof(float)]);
        var e = Assert.Throws<SurgeonException>(() => new OnnxGraphModel(proto, "lenet-bn.onnx"));
        AssertOneLine(e, "conv2");
    }

    /// <summary>
    /// Operators the PyTorch fixtures do not hold, appended to the LeNet graph's logits (Transpose twice, Identity,
    /// Dropout, LeakyRelu, Softmax) and to its input (a Transpose of H and W and back): Surgeon's outputs equal ONNX
    /// Runtime's on the same file; in training mode the Dropout drops.
    /// </summary>
    [Fact]
    public void MoreOperatorsEqualOnnxRuntime()
    {
        using var scope = NewDisposeScope();
        var proto = ImportFixtures.Proto("lenet-bn");
        var graph = proto.Graph;
        var first = graph.Node.First();
        first.Input[0] = "back";
        graph.Node.Insert(0, Node("swap", "Transpose", ["input"], "swapped", ("perm", [0, 1, 3, 2])));
        graph.Node.Insert(1, Node("swap_back", "Transpose", ["swapped"], "back", ("perm", [0, 1, 3, 2])));
        graph.Node.Last().Output[0] = "raw";
        graph.Node.Add(Node("t1", "Transpose", ["raw"], "t1", ("perm", [1, 0])));
        graph.Node.Add(Node("t2", "Transpose", ["t1"], "t2", ("perm", [1, 0])));
        graph.Node.Add(Node("same", "Identity", ["t2"], "same"));
        graph.Node.Add(Node("drop", "Dropout", ["same"], "dropped"));
        var leaky = Node("leaky", "LeakyRelu", ["dropped"], "leaky");
        leaky.Attribute.Add(new AttributeProto { Name = "alpha", F = 0.2f, Type = AttributeProto.Types.AttributeType.Float });
        graph.Node.Add(leaky);
        graph.Node.Add(Node("probabilities", "Softmax", ["leaky"], "logits", ("axis", [1])));
        var dir = Directory.CreateTempSubdirectory("onnx-ops-").FullName;
        try
        {
            string path = Path.Combine(dir, "more.onnx");
            File.WriteAllBytes(path, proto.ToByteArray());
            using var model = new OnnxGraphModel(OnnxFile.Read(path), "more.onnx");
            var x = ImportFixtures.Input();
            var surgeon = ImportFixtures.Logits(model, x);
            var (ort, _) = ImportFixtures.RunOrt(path, x);
            Assert.True(ImportFixtures.MaxDelta(surgeon, ort) <= 1e-6, $"{ImportFixtures.MaxDelta(surgeon, ort):E3}");
            Assert.InRange(surgeon.Take(10).Sum(), 0.999f, 1.001f); // a softmax row
            model.train();
            using (no_grad())
            {
                manual_seed(1);
                var dropped = model.call(x);
                Assert.True(dropped.sub(tensor(surgeon, [4, 10])).abs().max().item<float>() > 1e-3, "Dropout in training mode dropped nothing");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static NodeProto Node(string name, string op, string[] inputs, string output, params (string Name, long[] Ints)[] attributes)
    {
        var node = new NodeProto { Name = name, OpType = op };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (attribute, ints) in attributes)
        {
            var a = new AttributeProto { Name = attribute };
            if (attribute == "axis")
            {
                a.I = ints[0];
                a.Type = AttributeProto.Types.AttributeType.Int;
            }
            else
            {
                a.Ints.AddRange(ints);
                a.Type = AttributeProto.Types.AttributeType.Ints;
            }
            node.Attribute.Add(a);
        }
        return node;
    }

    private static void AssertOneLine(SurgeonException e, string contains)
    {
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains(contains, e.Message);
    }
}
