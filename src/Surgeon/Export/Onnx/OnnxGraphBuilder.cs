using Surgeon.Quantization;

namespace Surgeon.Export.Onnx;

/// <summary>
/// Collects the nodes and constant weights of one graph in execution order (ONNX wants nodes sorted topologically,
/// which a forward pass emitted in order gives for free). Every value and initializer name must be new, so a slip in
/// an emitter that would silently rewire the graph fails here instead.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    private readonly List<OnnxNode> nodes = [];
    private readonly List<OnnxTensor> initializers = [];
    private readonly List<OnnxInt8Tensor> int8Initializers = [];
    private readonly HashSet<string> names = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string inputName, QuantizedModel? quantized = null)
    {
        Claim(inputName);
        Input = inputName;
        Quantized = quantized;
    }

    /// <summary>
    /// When set, the layers take their (folded, quantised) weights and input grids from it and the graph is a QDQ
    /// graph (<see cref="QdqLayers"/>).
    /// </summary>
    public QuantizedModel? Quantized { get; }

    /// <summary>The layers of <see cref="Quantized"/> the emitters have written, so export can check none was missed.</summary>
    public HashSet<string> QuantizedLayersWritten { get; } = new(StringComparer.Ordinal);

    /// <summary>The name of the graph's input value.</summary>
    public string Input { get; }

    public int NodeCount => nodes.Count;

    /// <summary>Adds a float32 constant and returns its name.</summary>
    public string Initializer(string name, float[] data, params long[] dims)
    {
        Claim(name);
        initializers.Add(new OnnxTensor(name, dims, data));
        return name;
    }

    /// <summary>Adds an int8 constant (quantised codes, zero points) and returns its name.</summary>
    public string Int8Initializer(string name, sbyte[] data, params long[] dims)
    {
        Claim(name);
        int8Initializers.Add(new OnnxInt8Tensor(name, dims, data));
        return name;
    }

    /// <summary>Adds a node whose single output is named after the node, and returns that output's name.</summary>
    public string Node(string name, string opType, IReadOnlyList<string> inputs, params OnnxAttribute[] attributes)
    {
        foreach (string input in inputs)
            if (!names.Contains(input))
                throw new InvalidOperationException($"node {name} reads {input}, which nothing before it defines");
        Claim(name);
        nodes.Add(new OnnxNode(name, opType, inputs, [name], attributes));
        return name;
    }

    /// <summary>
    /// The finished graph, with <paramref name="result"/> (the last node's output) renamed to the declared output's
    /// name, so the graph ends in a value callers can ask for by name.
    /// </summary>
    public OnnxGraph Build(string graphName, OnnxValueInfo input, string result, OnnxValueInfo output)
    {
        if (input.Name != Input)
            throw new InvalidOperationException($"the graph's input is {Input}, not {input.Name}");
        if (nodes.Count == 0 || nodes[^1].Outputs[0] != result)
            throw new InvalidOperationException($"{result} is not the output of the graph's last node");
        if (output.Name != result && names.Contains(output.Name))
            throw new InvalidOperationException($"the output name {output.Name} is already taken");
        var finished = nodes.ToList();
        finished[^1] = finished[^1] with { Outputs = [output.Name] };
        return new OnnxGraph(graphName, finished, initializers.ToList(), [input], [output], int8Initializers.ToList());
    }

    private void Claim(string name)
    {
        if (!names.Add(name))
            throw new InvalidOperationException($"the ONNX graph already has a value or initializer named {name}");
    }
}
