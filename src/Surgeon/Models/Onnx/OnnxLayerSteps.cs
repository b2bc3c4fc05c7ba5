using Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>A step that holds a module and the initializers its tensors came from (written back on export).</summary>
internal abstract class OnnxLayerStep(NodeProto node, IReadOnlyList<string> inputs, string output, string context, string moduleName)
    : OnnxStep(node, inputs, output, context)
{
    /// <summary>The module's name in the graph model (its state-dict prefix).</summary>
    public string ModuleName { get; } = moduleName;

    public abstract nn.Module Module { get; }

    /// <summary>
    /// Which initializer each of the module's tensors came from: its name in the module's state ("weight",
    /// "running_mean"), and whether the ONNX layout is the transpose (a MatMul's [in, out] weight).
    /// </summary>
    public abstract IEnumerable<(string Initializer, string Local, bool Transposed)> Bindings();

    /// <summary>The initializers (name → current value, in the ONNX layout) this layer's tensors become on export.</summary>
    public IEnumerable<(string Initializer, Tensor Value)> Initializers()
    {
        var state = Module.state_dict();
        foreach (var (initializer, local, transposed) in Bindings())
            yield return (initializer, transposed ? state[local].t() : state[local]);
    }
}

/// <summary>
/// ONNX Conv (2-D): weight [out, in/groups, kh, kw] and optional bias as a <see cref="Conv2d"/>. Symmetric pads are the
/// conv's own padding; asymmetric ones (begin ≠ end) pad the input first, which computes the same.
/// </summary>
internal sealed class ConvStep : OnnxLayerStep
{
    private readonly long[]? asymmetricPads; // F.pad order: left, right, top, bottom

    public ConvStep(NodeProto node, string input, string context, string moduleName, Conv2d conv, string weight, string? bias, long[]? asymmetricPads)
        : base(node, [input], node.Output[0], context, moduleName)
    {
        Conv = conv;
        WeightName = weight;
        BiasName = bias;
        this.asymmetricPads = asymmetricPads;
    }

    public Conv2d Conv { get; }

    public string WeightName { get; }

    public string? BiasName { get; }

    public override nn.Module Module => Conv;

    public long Groups => Conv.groups;

    public override Tensor Run(IReadOnlyList<Tensor> inputs)
    {
        var x = inputs[0];
        long inPerGroup = Conv.weight!.shape[1];
        if (x.dim() != 4 || x.shape[1] != inPerGroup * Conv.groups)
            throw ShapeError($"a conv of {inPerGroup * Conv.groups} input channels gets {Shape(x)}");
        if (asymmetricPads is not null)
            x = nn.functional.pad(x, asymmetricPads);
        return Conv.call(x);
    }

    public override IEnumerable<(string, string, bool)> Bindings()
    {
        yield return (WeightName, "weight", false);
        if (BiasName is not null) yield return (BiasName, "bias", false);
    }
}

/// <summary>
/// ONNX Gemm (A·B′ + C with transA = 0), or MatMul by a constant [in, out] matrix optionally followed by an Add of a
/// constant [out] vector, as a <see cref="Linear"/> (weight [out, in]). Gemm's alpha and beta are folded into the
/// weight and bias on import (export writes alpha = beta = 1).
/// </summary>
internal sealed class LinearStep : OnnxLayerStep
{
    public LinearStep(NodeProto node, string input, string output, string context, string moduleName, Linear linear,
        string weight, string? bias, bool weightIsInputByOutput, NodeProto? addNode)
        : base(node, [input], output, context, moduleName)
    {
        Linear = linear;
        WeightName = weight;
        BiasName = bias;
        WeightIsInputByOutput = weightIsInputByOutput;
        AddNode = addNode;
    }

    public Linear Linear { get; }

    public string WeightName { get; }

    public string? BiasName { get; }

    /// <summary>True when the ONNX weight is [in, out] (MatMul, or Gemm with transB = 0): export transposes it back.</summary>
    public bool WeightIsInputByOutput { get; }

    /// <summary>The Add node fused into a MatMul, if any.</summary>
    public NodeProto? AddNode { get; }

    public override nn.Module Module => Linear;

    public override Tensor Run(IReadOnlyList<Tensor> inputs)
    {
        var x = inputs[0];
        if (x.dim() < 1 || x.shape[^1] != Linear.in_features)
            throw ShapeError($"a linear layer of {Linear.in_features} inputs gets {Shape(x)}");
        return Linear.call(x);
    }

    public override IEnumerable<(string, string, bool)> Bindings()
    {
        yield return (WeightName, "weight", WeightIsInputByOutput);
        if (BiasName is not null) yield return (BiasName, "bias", false);
    }
}

/// <summary>ONNX BatchNormalization in inference form (scale, B, mean, var) as a <see cref="SafeBatchNorm2d"/>.</summary>
internal sealed class NormStep : OnnxLayerStep
{
    public NormStep(NodeProto node, string input, string context, string moduleName, SafeBatchNorm2d norm, string[] names)
        : base(node, [input], node.Output[0], context, moduleName)
    {
        Norm = norm;
        Names = names;
    }

    public SafeBatchNorm2d Norm { get; }

    /// <summary>The scale, B, mean and var initializers.</summary>
    public string[] Names { get; }

    public override nn.Module Module => Norm;

    public override Tensor Run(IReadOnlyList<Tensor> inputs)
    {
        var x = inputs[0];
        if (x.dim() != 4 || x.shape[1] != Norm.Features)
            throw ShapeError($"a BatchNormalization of {Norm.Features} channels gets {Shape(x)}");
        return Norm.call(x);
    }

    public override IEnumerable<(string, string, bool)> Bindings()
    {
        yield return (Names[0], "weight", false);
        yield return (Names[1], "bias", false);
        yield return (Names[2], "running_mean", false);
        yield return (Names[3], "running_var", false);
    }
}
