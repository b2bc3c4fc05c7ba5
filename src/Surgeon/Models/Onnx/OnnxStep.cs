using Onnx;
using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>
/// One operation of an imported graph, run in the graph's (topological) order: it reads the values named by
/// <see cref="Inputs"/> (earlier outputs, the graph input, or constants) and defines the value <see cref="Output"/>.
/// A layer (Conv, Gemm, MatMul + Add, BatchNormalization) holds a TorchSharp module, so training, pruning and
/// per-sample gradients see an ordinary Conv2d, Linear or BatchNorm; the other operators are functions.
/// </summary>
internal abstract class OnnxStep(NodeProto node, IReadOnlyList<string> inputs, string output, string context)
{
    /// <summary>The node this step runs (for a MatMul + Add pair, the MatMul).</summary>
    public NodeProto Node { get; } = node;

    public string OpType => Node.OpType;

    public IReadOnlyList<string> Inputs { get; } = inputs;

    public string Output { get; } = output;

    /// <summary>"file: node 'name' (OpType)", the start of every error about this step.</summary>
    public string Context { get; } = context;

    /// <summary>The graph model's mode, set before each forward (Dropout drops only while training).</summary>
    public bool Training { get; set; }

    public abstract Tensor Run(IReadOnlyList<Tensor> inputs);

    /// <summary>Refuses shapes the operator cannot take, before libtorch sees them (a native shape error aborts the process).</summary>
    protected SurgeonException ShapeError(string what) => new($"{Context}: {what}");

    protected static string Shape(Tensor t) => "[" + string.Join('x', t.shape) + "]";
}

/// <summary>An operator without weights, given as a function of its inputs.</summary>
internal sealed class FunctionStep(NodeProto node, IReadOnlyList<string> inputs, string output, string context,
    Func<FunctionStep, IReadOnlyList<Tensor>, Tensor> run) : OnnxStep(node, inputs, output, context)
{
    public override Tensor Run(IReadOnlyList<Tensor> inputs) => run(this, inputs);

    public SurgeonException Error(string what) => ShapeError(what);

    public static string ShapeOf(Tensor t) => Shape(t);
}
