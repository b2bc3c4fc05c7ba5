using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>
/// An ONNX graph as a TorchSharp module: its Conv, Gemm, MatMul (+ Add) and BatchNormalization nodes are
/// Conv2d, Linear and BatchNorm modules (so every pruning method, training and per-sample gradients treat them as
/// those of a registry model), the other operators run as functions in the graph's order. The input is the graph's
/// single float input [batch, C, H, W]; the output its single output, [batch, classes] logits. The file as read is
/// kept, so export writes the same graph, node and tensor names with the current weights.
/// </summary>
internal sealed class OnnxGraphModel : nn.Module<Tensor, Tensor>, IStructuredModel
{
    private readonly List<OnnxStep> steps;
    // value name → the buffer holding it (looked up per forward: Module.to() replaces buffers with moved copies)
    private readonly Dictionary<string, string> constants = new(StringComparer.Ordinal);

    /// <param name="model">The parsed file (<see cref="OnnxFile.Read"/>); the module keeps it as the template of export.</param>
    /// <param name="fileName">The file's name, for errors.</param>
    public OnnxGraphModel(ModelProto model, string fileName) : base(nameof(OnnxGraphModel))
    {
        Numerics.ConvolutionBackend.DisableOneDnn(); // its conv input gradients are wrong (see the registry's conv models)
        Source = model;
        FileName = fileName;
        var graph = model.Graph;
        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).ToList();
        if (inputs.Count != 1)
            throw new SurgeonException($"{fileName}: the graph has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}); Surgeon imports classifiers of one input");
        if (graph.Output.Count != 1)
            throw new SurgeonException($"{fileName}: the graph has {graph.Output.Count} outputs; Surgeon imports classifiers of one output (the logits)");
        InputName = inputs[0].Name;
        OutputName = graph.Output[0].Name;
        InputShape = SampleShape(inputs[0], fileName);

        var operators = new OnnxOperators(fileName, model);
        foreach (var node in graph.Node.Where(n => n.OpType == "Constant"))
            operators.ConstantNodes[node.Output[0]] = ConstantValue(node, fileName);
        operators.FoldConstantCasts(graph.Node);
        steps = operators.Translate(graph.Node);

        foreach (var layer in steps.OfType<OnnxLayerStep>())
            register_module(layer.ModuleName, layer.Module);
        // Constants the functions read (not layer weights) are buffers, so they follow the model to a device.
        int k = 0;
        foreach (var tensor in graph.Initializer.Where(t => !operators.LayerInitializers.Contains(t.Name)))
            AddConstant(tensor.Name, OnnxTensors.ToTensor(tensor, $"{fileName}: initializer {tensor.Name}"), ref k);
        foreach (var (name, tensor) in operators.ConstantNodes)
            AddConstant(name, OnnxTensors.ToTensor(tensor, $"{fileName}: constant {name}"), ref k);
        Steps = steps;
        CheckOrder(fileName);

        // One forward on a zero sample checks every shape in C# before any work and gives the class count.
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            bool was = training;
            eval();
            var probe = Run(zeros([1, .. InputShape.Select(d => (long)d)]), ProbeShapes);
            train(was);
            if (probe.dim() != 2)
                throw new SurgeonException($"{fileName}: the graph's output {OutputName} has shape [{string.Join('x', probe.shape)}] for one sample; Surgeon needs [batch, classes] logits");
            NumClasses = (int)probe.shape[1];
        }
        if (NumClasses < 2) throw new SurgeonException($"{fileName}: the graph gives {NumClasses} output; a classifier needs at least 2 classes");
    }

    /// <summary>
    /// Refuses data the graph cannot take: samples of another shape than its input, or more classes than it predicts
    /// (the twin of <c>CheckpointInfo.EnsureFits</c>; the command line and <c>CompressionSession.FromOnnx</c> call it).
    /// </summary>
    public void EnsureFits(Data.ImageDataset data)
    {
        if (!InputShape.AsSpan().SequenceEqual(data.SampleShape))
            throw new SurgeonException($"{FileName} takes {string.Join('×', InputShape)} inputs but {data.Name} has {string.Join('×', data.SampleShape)}; pick a dataset of its input shape");
        if (data.NumClasses > NumClasses)
            throw new SurgeonException($"{data.Name} has {data.NumClasses} classes but {FileName} predicts {NumClasses}");
    }

    /// <summary>The file as read: the template of export (its nodes, names and attributes).</summary>
    public ModelProto Source { get; }

    public string FileName { get; }

    public string InputName { get; }

    public string OutputName { get; }

    /// <summary>One sample's shape, C×H×W (or whatever the graph's input has after the batch).</summary>
    public int[] InputShape { get; }

    public int NumClasses { get; }

    internal IReadOnlyList<OnnxStep> Steps { get; }

    /// <summary>"onnx" with the graph's sample shape and classes (an imported graph is rebuilt from its file, not the registry).</summary>
    public ModelSpec Spec => new("onnx", InputShape, NumClasses);

    private OnnxDependencies? dependencies;

    private OnnxDependencies Dependencies => dependencies ??= new OnnxDependencies(this);

    /// <summary>The groups of channels that prune together (<see cref="OnnxDependencies"/>).</summary>
    public IReadOnlyList<FilterGroup> FilterGroups => Dependencies.Groups;

    /// <summary>
    /// The graph with the channels not kept removed from every layer that produces, normalises or reads them: the same
    /// file with smaller initializers, imported anew. Computes what this model computes with the removed channels' outputs zeroed.
    /// </summary>
    public nn.Module<Tensor, Tensor> Shrink(IReadOnlyDictionary<string, long[]> keep, KeepFloor floor = KeepFloor.FivePercent)
    {
        var groups = FilterGroups.ToDictionary(g => g.Name, StringComparer.Ordinal);
        foreach (var (name, kept) in keep)
        {
            if (!groups.TryGetValue(name, out var group))
                throw new SurgeonException($"{FileName} has no filter group '{name}' (groups: {string.Join(", ", groups.Keys.Take(6))}{(groups.Count > 6 ? ", …" : "")})");
            group.ValidateKeep(kept, floor);
        }
        var device = parameters().First().device;
        using var scope = NewDisposeScope();
        var sliced = Dependencies.Sliced(keep);
        var proto = OnnxGraphWriter.Write(this, sliced);
        var smaller = new OnnxGraphModel(proto, FileName);
        if (device.type != DeviceType.CPU) smaller.to(device);
        smaller.train(training);
        return smaller;
    }

    /// <summary>The shape of a constant value (an initializer that is no layer weight, or a Constant node), or null for a computed value.</summary>
    internal long[]? ConstantShape(string value) =>
        constants.TryGetValue(value, out var buffer) ? named_buffers(recurse: false).First(b => b.name == buffer).buffer.shape : null;

    /// <summary>The layers (Conv, Linear, BatchNorm) by their module name.</summary>
    internal IEnumerable<OnnxLayerStep> Layers => steps.OfType<OnnxLayerStep>();

    public override Tensor forward(Tensor input) => Run(input, shapes: null);

    /// <summary>Each value's shape for one sample (batch 1), recorded by the probe forward at import.</summary>
    internal Dictionary<string, long[]> ProbeShapes { get; } = new(StringComparer.Ordinal);

    private Tensor Run(Tensor input, Dictionary<string, long[]>? shapes)
    {
        if (input.dim() != InputShape.Length + 1 || !input.shape.Skip(1).SequenceEqual(InputShape.Select(d => (long)d)))
            throw new SurgeonException($"{FileName} takes inputs [batch, {string.Join(", ", InputShape)}], got [{string.Join(", ", input.shape)}]");
        using var scope = NewDisposeScope();
        var buffers = named_buffers(recurse: false).ToDictionary(b => b.name, b => b.buffer, StringComparer.Ordinal);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (value, buffer) in constants) values[value] = buffers[buffer];
        values[InputName] = input;
        foreach (var step in steps)
        {
            step.Training = training;
            var args = new Tensor[step.Inputs.Count];
            for (int i = 0; i < args.Length; i++)
                args[i] = values[step.Inputs[i]];
            values[step.Output] = step.Run(args);
            shapes?.Add(step.Output, values[step.Output].shape);
        }
        return values[OutputName].MoveToOuterDisposeScope();
    }

    private void AddConstant(string name, Tensor value, ref int k)
    {
        value.DetachFromDisposeScope();
        string buffer = $"constant_{k++}";
        register_buffer(buffer, value); // persistent: TorchSharp lists (and moves) only those
        constants[name] = buffer;
    }

    /// <summary>Every step reads only values defined before it (ONNX requires topological order), and the output is defined.</summary>
    private void CheckOrder(string fileName)
    {
        var defined = new HashSet<string>(Source.Graph.Initializer.Select(t => t.Name), StringComparer.Ordinal) { InputName };
        defined.UnionWith(constants.Keys);
        foreach (var step in steps)
        {
            foreach (string input in step.Inputs)
                if (!defined.Contains(input))
                    throw new SurgeonException($"{step.Context}: reads {input}, which no earlier node, initializer or input defines (the graph is not in topological order, or is broken)");
            if (!defined.Add(step.Output))
                throw new SurgeonException($"{step.Context}: its output {step.Output} is defined twice");
        }
        if (!defined.Contains(OutputName))
            throw new SurgeonException($"{fileName}: no node computes the graph's output {OutputName}");
    }

    private static int[] SampleShape(ValueInfoProto input, string fileName)
    {
        var tensorType = input.Type?.TensorType
            ?? throw new SurgeonException($"{fileName}: the graph's input {input.Name} is not a tensor");
        if (tensorType.ElemType != OnnxTensors.Float)
            throw new SurgeonException($"{fileName}: the graph's input {input.Name} is {OnnxTensors.DataTypeName(tensorType.ElemType)}; Surgeon feeds float32 images");
        var dims = tensorType.Shape?.Dim ?? throw new SurgeonException($"{fileName}: the graph's input {input.Name} has no shape");
        if (dims.Count < 2)
            throw new SurgeonException($"{fileName}: the graph's input {input.Name} has rank {dims.Count}; Surgeon needs [batch, …] inputs");
        var sample = new int[dims.Count - 1];
        for (int i = 1; i < dims.Count; i++)
        {
            var d = dims[i];
            if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue < 1 || d.DimValue > 1 << 20)
                throw new SurgeonException($"{fileName}: dimension {i} of the input {input.Name} is {(d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? $"symbolic ({d.DimParam})" : d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture))}; Surgeon needs fixed sample sizes");
            sample[i - 1] = (int)d.DimValue;
        }
        return sample;
    }

    private static TensorProto ConstantValue(NodeProto node, string fileName)
    {
        var value = node.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
        return value ?? throw new SurgeonException($"{OnnxOperators.Describe(node, fileName)}: only a Constant with a tensor 'value' is supported");
    }
}
