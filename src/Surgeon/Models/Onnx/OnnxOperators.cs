using Onnx;
using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>
/// Turns the nodes of an ONNX graph into <see cref="OnnxStep"/>s. Weights (a layer's initializers) become module
/// parameters; the other constants (a Reshape's shape, a Clip's bounds, an Add's or Mul's constant operand, a
/// Constant node's value) are looked up by name at run time. Anything else is refused with the operator and node
/// named, before any work.
/// </summary>
internal sealed class OnnxOperators
{
    /// <summary>The operators Surgeon imports (for the error that names an unsupported one).</summary>
    public static readonly string[] Supported =
    [
        "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "MaxPool",
        "AveragePool", "GlobalAveragePool", "Add", "Mul", "Sub", "Div", "Concat", "Flatten", "Reshape", "Transpose",
        "Dropout", "Identity", "Softmax", "Constant", "Cast", "Pad",
    ];

    private readonly string file;
    private readonly long opset;
    private readonly IReadOnlyDictionary<string, TensorProto> initializers;
    private readonly IReadOnlyDictionary<string, int> uses; // value name → number of node inputs reading it
    private readonly HashSet<string> graphOutputs;
    private readonly HashSet<string> moduleNames = new(StringComparer.Ordinal);

    public OnnxOperators(string file, ModelProto model)
    {
        this.file = file;
        opset = OnnxFile.Opset(model);
        initializers = model.Graph.Initializer.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        uses = model.Graph.Node.SelectMany(n => n.Input).Where(i => i.Length > 0).GroupBy(i => i)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        graphOutputs = model.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Initializers a layer took as its weights (they are not constants of the graph).</summary>
    public HashSet<string> LayerInitializers { get; } = new(StringComparer.Ordinal);

    /// <summary>Nodes folded into the step before them (the Add after a MatMul).</summary>
    public HashSet<NodeProto> Folded { get; } = [];

    public static string Describe(NodeProto node, string file) =>
        $"{file}: node '{(node.Name.Length > 0 ? node.Name : node.Output.FirstOrDefault() ?? "?")}' ({node.OpType})";

    /// <summary>Every node's step, in the file's order (checked to be topological by the caller).</summary>
    public List<OnnxStep> Translate(IReadOnlyList<NodeProto> nodes)
    {
        foreach (var node in nodes)
            if (!Supported.Contains(node.OpType, StringComparer.Ordinal))
                throw new SurgeonException($"{Describe(node, file)}: operator {node.OpType} is not supported; Surgeon imports {string.Join(", ", Supported)}");
        var steps = new List<OnnxStep>();
        for (int i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            if (Folded.Contains(node)) continue;
            if (node.Output.Count == 0 || node.Output[0].Length == 0)
                throw new SurgeonException($"{Describe(node, file)}: the node has no output");
            if (node.OpType == "Constant" || ConstantNodes.ContainsKey(node.Output[0])) continue; // read as a constant
            steps.Add(Translate(node, nodes, i));
        }
        return steps;
    }

    private OnnxStep Translate(NodeProto node, IReadOnlyList<NodeProto> nodes, int index)
    {
        string context = Describe(node, file);
        var a = new OnnxAttributes(node, context);
        string Input(int i) => i < node.Input.Count && node.Input[i].Length > 0 ? node.Input[i]
            : throw new SurgeonException($"{context}: input {i} is missing");
        if (node.OpType != "Dropout" && node.Output.Count > 1 && node.Output.Skip(1).Any(o => o.Length > 0))
            throw new SurgeonException($"{context}: only the first output is supported");
        FunctionStep Function(IReadOnlyList<string> inputs, Func<FunctionStep, IReadOnlyList<Tensor>, Tensor> run) =>
            new(node, inputs, node.Output[0], context, run);
        switch (node.OpType)
        {
            case "Conv": return Conv(node, a, context, Input(0));
            case "Gemm": return Gemm(node, a, context, Input(0));
            case "MatMul" when initializers.ContainsKey(Input(1)) && !initializers.ContainsKey(Input(0)):
                return MatMul(node, nodes, index, context, Input(0));
            case "MatMul":
                return Function([Input(0), Input(1)], (s, x) =>
                {
                    if (x[0].dim() < 2 || x[1].dim() < 2 || x[0].shape[^1] != x[1].shape[^2])
                        throw s.Error($"cannot multiply {FunctionStep.ShapeOf(x[0])} by {FunctionStep.ShapeOf(x[1])}");
                    return x[0].matmul(x[1]);
                });
            case "BatchNormalization": return Norm(node, a, context, Input(0));
            case "Relu": return Function([Input(0)], (_, x) => nn.functional.relu(x[0]));
            case "Sigmoid": return Function([Input(0)], (_, x) => x[0].sigmoid());
            case "Tanh": return Function([Input(0)], (_, x) => x[0].tanh());
            case "LeakyRelu":
                {
                    var slope = HeldScalars.Of(a.Float("alpha", 0.01f));
                    var zero = HeldScalars.Of(0);
                    return Function([Input(0)], (_, x) => where(x[0].gt(zero), x[0], x[0].mul(slope)));
                }
            case "Clip": return Clip(node, a, context, Input(0));
            case "Softmax":
                {
                    long axis = a.Int("axis", opset >= 13 ? -1 : 1);
                    return Function([Input(0)], (s, x) =>
                    {
                        long dim = axis < 0 ? axis + x[0].dim() : axis;
                        if (dim < 0 || dim >= x[0].dim()) throw s.Error($"axis {axis} is outside {FunctionStep.ShapeOf(x[0])}");
                        if (opset < 13 && dim != x[0].dim() - 1)
                            throw s.Error($"Softmax before opset 13 over axis {axis} of a rank-{x[0].dim()} input (a flattened softmax) is not supported");
                        return x[0].softmax(dim);
                    });
                }
            case "MaxPool":
            case "AveragePool": return Pool(node, a, context, Input(0));
            case "GlobalAveragePool":
                return Function([Input(0)], (s, x) => x[0].dim() == 4 ? x[0].mean([2L, 3L], keepdim: true)
                    : throw s.Error($"GlobalAveragePool needs an N×C×H×W input, got {FunctionStep.ShapeOf(x[0])}"));
            case "Add":
            case "Sub":
            case "Mul":
            case "Div":
                return Function([Input(0), Input(1)], (s, x) =>
                {
                    Broadcast(s, x[0], x[1]);
                    return node.OpType switch
                    {
                        "Add" => x[0].add(x[1], HeldScalars.One),
                        "Sub" => x[0].add(x[1], HeldScalars.Of(-1)),
                        "Mul" => x[0].mul(x[1]),
                        _ => x[0].div(x[1]),
                    };
                });
            case "Concat":
                {
                    if (!a.Has("axis")) throw new SurgeonException($"{context}: Concat needs its axis attribute");
                    long axis = a.Int("axis", 1);
                    var inputs = node.Input.Where(i => i.Length > 0).ToList();
                    return Function(inputs, (s, x) => Concat(s, x, axis));
                }
            case "Flatten":
                {
                    long axis = a.Int("axis", 1);
                    return Function([Input(0)], (s, x) =>
                    {
                        long dim = axis < 0 ? axis + x[0].dim() : axis;
                        if (dim < 0 || dim > x[0].dim()) throw s.Error($"axis {axis} is outside {FunctionStep.ShapeOf(x[0])}");
                        long outer = x[0].shape.Take((int)dim).Aggregate(1L, (p, d) => p * d);
                        return x[0].reshape(outer, -1);
                    });
                }
            case "Reshape":
                {
                    var shape = Constant(Input(1), context, "Reshape's shape");
                    if (a.Int("allowzero", 0) != 0) throw new SurgeonException($"{context}: allowzero = 1 is not supported");
                    var target = OnnxTensors.Integers(shape, context);
                    return Function([Input(0)], (s, x) => x[0].reshape(ReshapeTarget(s, x[0], target)));
                }
            case "Transpose":
                {
                    var perm = a.Ints("perm");
                    return Function([Input(0)], (s, x) =>
                    {
                        var p = perm ?? Enumerable.Range(0, (int)x[0].dim()).Reverse().Select(d => (long)d).ToArray();
                        if (p.Length != x[0].dim() || p.Order().Select((d, i) => d == i).Any(ok => !ok))
                            throw s.Error($"perm [{string.Join(',', p)}] does not permute the axes of {FunctionStep.ShapeOf(x[0])}");
                        return x[0].permute(p);
                    });
                }
            case "Dropout":
                {
                    if (node.Output.Count > 1 && node.Output[1].Length > 0 && uses.ContainsKey(node.Output[1]))
                        throw new SurgeonException($"{context}: the graph reads Dropout's mask output, which Surgeon does not produce");
                    // The ratio is an attribute up to opset 11, an optional constant input since 12; training mode
                    // follows the model's (the graph's own training_mode input is for exporters of training graphs).
                    double ratio = opset >= 12
                        ? node.Input.Count > 1 && node.Input[1].Length > 0 ? Scalar(Input(1), context, "Dropout's ratio") : 0.5
                        : a.Float("ratio", 0.5f);
                    if (!(ratio >= 0 && ratio < 1)) throw new SurgeonException($"{context}: dropout ratio {ratio} is outside [0, 1)");
                    return Function([Input(0)], (s, x) => nn.functional.dropout(x[0], ratio, s.Training));
                }
            case "Identity": return Function([Input(0)], (_, x) => x[0].alias());
            case "Pad": return Pad(node, a, context, Input(0));
            case "Cast":
                {
                    long to = a.Int("to", 0);
                    if (to != OnnxTensors.Float) throw new SurgeonException($"{context}: a Cast of a computed value to {OnnxTensors.DataTypeName((int)to)} is not supported");
                    return Function([Input(0)], (_, x) => x[0].to(ScalarType.Float32));
                }
            default:
                throw new SurgeonException($"{context}: operator {node.OpType} is not supported");
        }
    }

    /// <summary>
    /// Casts of constants (PyTorch's exporter casts a Clip's bounds) are computed here, so the operators that need
    /// constant inputs (Clip, Reshape, Pad) find them among <see cref="ConstantNodes"/>.
    /// </summary>
    public void FoldConstantCasts(IReadOnlyList<NodeProto> nodes)
    {
        foreach (var node in nodes)
        {
            if (node.OpType != "Cast" || node.Input.Count != 1 || node.Output.Count != 1) continue;
            string context = Describe(node, file);
            var source = initializers.GetValueOrDefault(node.Input[0]) ?? ConstantNodes.GetValueOrDefault(node.Input[0]);
            if (source is null) continue;
            int to = (int)new OnnxAttributes(node, context).Int("to", 0);
            using var value = OnnxTensors.ToTensor(source, context);
            ConstantNodes[node.Output[0]] = to switch
            {
                OnnxTensors.Float => OnnxTensors.FromTensor(node.Output[0], value),
                OnnxTensors.Int64 or OnnxTensors.Int32 => OnnxTensors.FromIntegers(node.Output[0], OnnxTensors.Integers(source, context), value.shape),
                _ => throw new SurgeonException($"{context}: a Cast to {OnnxTensors.DataTypeName(to)} is not supported"),
            };
        }
    }

    private FunctionStep Pad(NodeProto node, OnnxAttributes a, string context, string input)
    {
        string mode = a.String("mode", "constant");
        var paddingMode = mode switch
        {
            "constant" => PaddingModes.Constant,
            "reflect" => PaddingModes.Reflect,
            "edge" => PaddingModes.Replicate,
            _ => throw new SurgeonException($"{context}: Pad mode {mode} is not supported"),
        };
        long[] pads = opset >= 11
            ? OnnxTensors.Integers(Constant(node.Input.Count > 1 ? node.Input[1] : "", context, "Pad's pads"), context)
            : a.Ints("pads") ?? throw new SurgeonException($"{context}: pads are missing");
        double value = opset >= 11
            ? node.Input.Count > 2 && node.Input[2].Length > 0 ? Scalar(node.Input[2], context, "Pad's constant value") : 0
            : a.Float("value", 0f);
        if (opset >= 18 && node.Input.Count > 3 && node.Input[3].Length > 0)
            throw new SurgeonException($"{context}: Pad with an axes input is not supported");
        if (pads.Length % 2 != 0) throw new SurgeonException($"{context}: pads has an odd number of entries");
        int rank = pads.Length / 2;
        // ONNX: [begin of each axis…, end of each axis…]; PyTorch: (begin, end) pairs from the last axis back.
        var torchPads = new long[pads.Length];
        for (int d = 0; d < rank; d++)
        {
            torchPads[2 * d] = pads[rank - 1 - d];
            torchPads[2 * d + 1] = pads[2 * rank - 1 - d];
        }
        // PyTorch pads only the trailing axes: drop the leading all-zero pairs (batch, channels).
        int used = rank;
        while (used > 0 && torchPads[2 * used - 1] == 0 && torchPads[2 * used - 2] == 0) used--;
        var trimmed = torchPads[..(2 * used)];
        return new FunctionStep(node, [input], node.Output[0], context, (s, x) =>
        {
            if (x[0].dim() != rank) throw s.Error($"{rank} pad pairs for {FunctionStep.ShapeOf(x[0])}");
            return trimmed.Length == 0 ? x[0].alias() : nn.functional.pad(x[0], trimmed, paddingMode, value);
        });
    }

    private ConvStep Conv(NodeProto node, OnnxAttributes a, string context, string input)
    {
        var weight = Weight(node, 1, context, "weight");
        if (weight.Dims.Count != 4)
            throw new SurgeonException($"{context}: a Conv with a {weight.Dims.Count - 2}-D kernel is not supported (Surgeon imports 2-D convolutions)");
        a.RequireExplicitPads();
        long groups = a.Int("group", 1);
        long outChannels = weight.Dims[0], inPerGroup = weight.Dims[1];
        if (groups < 1 || outChannels % groups != 0)
            throw new SurgeonException($"{context}: group {groups} does not divide the {outChannels} filters");
        var kernel = a.Ints("kernel_shape");
        if (kernel is not null && !kernel.SequenceEqual(weight.Dims.Skip(2)))
            throw new SurgeonException($"{context}: kernel_shape [{string.Join(',', kernel)}] disagrees with the weight's [{string.Join(',', weight.Dims)}]");
        var strides = a.Ints("strides", 2, 1);
        var dilations = a.Ints("dilations", 2, 1);
        var pads = a.String("auto_pad", "NOTSET") == "VALID" ? new long[4] : a.Ints("pads", 4, 0);
        if (strides.Any(s => s < 1) || dilations.Any(d => d < 1) || pads.Any(p => p < 0))
            throw new SurgeonException($"{context}: strides, dilations and pads must be positive (pads non-negative)");
        var bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? Weight(node, 2, context, "bias") : null;
        if (bias is not null && (bias.Dims.Count != 1 || bias.Dims[0] != outChannels))
            throw new SurgeonException($"{context}: bias [{string.Join(',', bias.Dims)}] does not match {outChannels} filters");
        bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
        string module = ModuleName(node, weight.Name);
        var conv = nn.Conv2d(inPerGroup * groups, outChannels, (weight.Dims[2], weight.Dims[3]), stride: (strides[0], strides[1]),
            padding: symmetric ? (pads[0], pads[1]) : (0, 0), dilation: (dilations[0], dilations[1]), groups: groups, bias: bias is not null);
        Load(conv.weight!, weight, context);
        if (bias is not null) Load(conv.bias!, bias, context);
        return new ConvStep(node, input, context, module, conv, weight.Name, bias?.Name,
            symmetric ? null : [pads[1], pads[3], pads[0], pads[2]]);
    }

    private LinearStep Gemm(NodeProto node, OnnxAttributes a, string context, string input)
    {
        if (a.Int("transA", 0) != 0) throw new SurgeonException($"{context}: Gemm with transA = 1 is not supported");
        var b = Weight(node, 1, context, "B");
        if (b.Dims.Count != 2) throw new SurgeonException($"{context}: B has rank {b.Dims.Count}, not 2");
        bool transB = a.Int("transB", 0) != 0;
        long inFeatures = transB ? b.Dims[1] : b.Dims[0], outFeatures = transB ? b.Dims[0] : b.Dims[1];
        var c = node.Input.Count > 2 && node.Input[2].Length > 0 ? Weight(node, 2, context, "C") : null;
        if (c is not null && c.Dims.Aggregate(1L, (p, d) => p * d) != outFeatures)
            throw new SurgeonException($"{context}: C [{string.Join(',', c.Dims)}] is not a vector of {outFeatures} (Surgeon imports a per-output bias)");
        var linear = nn.Linear(inFeatures, outFeatures, hasBias: c is not null);
        using (no_grad())
        {
            using var w = OnnxTensors.ToTensor(b, context);
            var alpha = HeldScalars.Of(a.Float("alpha", 1f));
            linear.weight!.copy_((transB ? w : w.t()).mul(alpha));
            if (c is not null)
            {
                using var bias = OnnxTensors.ToTensor(c, context);
                linear.bias!.copy_(bias.reshape(outFeatures).mul(HeldScalars.Of(a.Float("beta", 1f))));
            }
        }
        return new LinearStep(node, input, node.Output[0], context, ModuleName(node, b.Name), linear, b.Name, c?.Name, !transB, addNode: null);
    }

    /// <summary>MatMul by a constant [in, out] matrix; an Add of a constant [out] vector that alone reads its result is its bias.</summary>
    private LinearStep MatMul(NodeProto node, IReadOnlyList<NodeProto> nodes, int index, string context, string input)
    {
        var w = Weight(node, 1, context, "B");
        if (w.Dims.Count != 2) throw new SurgeonException($"{context}: a MatMul by a rank-{w.Dims.Count} constant is not supported");
        long inFeatures = w.Dims[0], outFeatures = w.Dims[1];
        string result = node.Output[0];
        NodeProto? add = null;
        TensorProto? bias = null;
        if (uses.GetValueOrDefault(result) == 1 && !graphOutputs.Contains(result))
        {
            add = nodes.Skip(index + 1).FirstOrDefault(n => n.Input.Contains(result));
            string? other = add is { OpType: "Add", Input.Count: 2 } ? add.Input[0] == result ? add.Input[1] : add.Input[0] : null;
            if (other is not null && initializers.TryGetValue(other, out var b) && uses.GetValueOrDefault(other) == 1
                && b.Dims.Aggregate(1L, (p, d) => p * d) == outFeatures && b.Dims.LastOrDefault() == outFeatures)
                bias = b;
            else
                add = null;
        }
        if (bias is not null)
        {
            LayerInitializers.Add(bias.Name);
            Folded.Add(add!);
        }
        var linear = nn.Linear(inFeatures, outFeatures, hasBias: bias is not null);
        using (no_grad())
        {
            using var weight = OnnxTensors.ToTensor(w, context);
            linear.weight!.copy_(weight.t());
            if (bias is not null)
            {
                using var b = OnnxTensors.ToTensor(bias, context);
                linear.bias!.copy_(b.reshape(outFeatures));
            }
        }
        return new LinearStep(node, input, add?.Output[0] ?? result, context, ModuleName(node, w.Name), linear, w.Name, bias?.Name, true, add);
    }

    private NormStep Norm(NodeProto node, OnnxAttributes a, string context, string input)
    {
        if (a.Int("training_mode", 0) != 0 || node.Output.Count > 1 && node.Output.Skip(1).Any(o => o.Length > 0))
            throw new SurgeonException($"{context}: a BatchNormalization in training mode (with running-statistics outputs) is not supported");
        var tensors = Enumerable.Range(1, 4).Select(i => Weight(node, i, context, new[] { "scale", "B", "mean", "var" }[i - 1])).ToArray();
        long features = tensors[0].Dims.Aggregate(1L, (p, d) => p * d);
        if (tensors.Any(t => t.Dims.Count != 1 || t.Dims[0] != features))
            throw new SurgeonException($"{context}: scale, B, mean and var must be vectors of one length");
        // ONNX's momentum weighs the old statistics; PyTorch's (and SafeBatchNorm2d's) weighs the new batch.
        var norm = new SafeBatchNorm2d(features, a.Float("epsilon", 1e-5f), 1.0 - a.Float("momentum", 0.9f));
        using (no_grad())
        {
            Load(norm.weight, tensors[0], context);
            Load(norm.bias, tensors[1], context);
            Load(norm.running_mean, tensors[2], context);
            Load(norm.running_var, tensors[3], context);
        }
        return new NormStep(node, input, context, ModuleName(node, tensors[0].Name), norm, tensors.Select(t => t.Name).ToArray());
    }

    private FunctionStep Clip(NodeProto node, OnnxAttributes a, string context, string input)
    {
        double low, high;
        if (opset >= 11)
        {
            low = node.Input.Count > 1 && node.Input[1].Length > 0 ? Scalar(node.Input[1], context, "Clip's min") : double.NegativeInfinity;
            high = node.Input.Count > 2 && node.Input[2].Length > 0 ? Scalar(node.Input[2], context, "Clip's max") : double.PositiveInfinity;
        }
        else
        {
            low = a.Float("min", float.NegativeInfinity);
            high = a.Float("max", float.PositiveInfinity);
        }
        var min = HeldScalars.Of(low);
        var max = HeldScalars.Of(high);
        return new FunctionStep(node, [input], node.Output[0], context, (_, x) => x[0].clamp(min, max));
    }

    private FunctionStep Pool(NodeProto node, OnnxAttributes a, string context, string input)
    {
        a.RequireExplicitPads();
        var kernel = a.Ints("kernel_shape") ?? throw new SurgeonException($"{context}: kernel_shape is missing");
        if (kernel.Length != 2) throw new SurgeonException($"{context}: a {kernel.Length}-D pool is not supported (Surgeon imports 2-D pools)");
        var strides = a.Ints("strides", 2, 1);
        var pads = a.String("auto_pad", "NOTSET") == "VALID" ? new long[4] : a.Ints("pads", 4, 0);
        var dilations = a.Ints("dilations", 2, 1);
        bool ceil = a.Int("ceil_mode", 0) != 0;
        if (pads[0] != pads[2] || pads[1] != pads[3])
            throw new SurgeonException($"{context}: asymmetric pool pads [{string.Join(',', pads)}] are not supported");
        if (pads[0] * 2 > kernel[0] || pads[1] * 2 > kernel[1])
            throw new SurgeonException($"{context}: pads [{string.Join(',', pads)}] exceed half the kernel, which PyTorch's pools refuse");
        long[] pad = [pads[0], pads[1]];
        bool max = node.OpType == "MaxPool";
        if (!max && dilations.Any(d => d != 1)) throw new SurgeonException($"{context}: a dilated AveragePool is not supported");
        bool countPads = a.Int("count_include_pad", 0) != 0;
        return new FunctionStep(node, [input], node.Output[0], context, (s, x) =>
        {
            if (x[0].dim() != 4) throw s.Error($"a 2-D pool needs an N×C×H×W input, got {FunctionStep.ShapeOf(x[0])}");
            for (int d = 0; d < 2; d++)
                if (x[0].shape[d + 2] + 2 * pad[d] < (kernel[d] - 1) * dilations[d] + 1)
                    throw s.Error($"the {kernel[0]}×{kernel[1]} pool is larger than the padded input {FunctionStep.ShapeOf(x[0])}");
            return max
                ? nn.functional.max_pool2d(x[0], kernel, strides, pad, dilations, ceil)
                : nn.functional.avg_pool2d(x[0], kernel, strides, pad, ceil, countPads);
        });
    }

    private static Tensor Concat(FunctionStep s, IReadOnlyList<Tensor> x, long axis)
    {
        long rank = x[0].dim();
        long dim = axis < 0 ? axis + rank : axis;
        if (dim < 0 || dim >= rank) throw s.Error($"axis {axis} is outside {FunctionStep.ShapeOf(x[0])}");
        foreach (var t in x)
            if (t.dim() != rank || Enumerable.Range(0, (int)rank).Any(d => d != dim && t.shape[d] != x[0].shape[d]))
                throw s.Error($"cannot concatenate {string.Join(" and ", x.Select(FunctionStep.ShapeOf))} along axis {axis}");
        return cat(x.ToList(), dim);
    }

    private static void Broadcast(FunctionStep s, Tensor a, Tensor b)
    {
        for (int i = 1; i <= Math.Min(a.dim(), b.dim()); i++)
        {
            long p = a.shape[^i], q = b.shape[^i];
            if (p != q && p != 1 && q != 1)
                throw s.Error($"{FunctionStep.ShapeOf(a)} and {FunctionStep.ShapeOf(b)} do not broadcast");
        }
    }

    /// <summary>ONNX Reshape's target: 0 copies the input's dim, −1 (at most one) takes what is left.</summary>
    private static long[] ReshapeTarget(FunctionStep s, Tensor x, long[] target)
    {
        var dims = new long[target.Length];
        int infer = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            dims[i] = target[i] == 0 && i < x.dim() ? x.shape[i] : target[i];
            if (dims[i] == -1)
            {
                if (infer >= 0) throw s.Error($"shape [{string.Join(',', target)}] has two −1s");
                infer = i;
            }
            else if (dims[i] < 0) throw s.Error($"shape [{string.Join(',', target)}] has a negative size");
            else known *= dims[i];
        }
        long total = x.numel();
        if (infer >= 0)
        {
            if (known == 0 || total % known != 0) throw s.Error($"cannot reshape {FunctionStep.ShapeOf(x)} to [{string.Join(',', target)}]");
            dims[infer] = total / known;
        }
        else if (known != total) throw s.Error($"cannot reshape {FunctionStep.ShapeOf(x)} to [{string.Join(',', target)}]");
        return dims;
    }

    /// <summary>Input <paramref name="index"/> as an initializer that becomes a layer's weight (used by this node alone).</summary>
    private TensorProto Weight(NodeProto node, int index, string context, string role)
    {
        if (index >= node.Input.Count || node.Input[index].Length == 0)
            throw new SurgeonException($"{context}: the {role} input is missing");
        string name = node.Input[index];
        if (!initializers.TryGetValue(name, out var tensor))
            throw new SurgeonException($"{context}: the {role} ({name}) is computed by the graph, not a constant; Surgeon imports layers with constant weights");
        if (uses.GetValueOrDefault(name) > 1 || !LayerInitializers.Add(name))
            throw new SurgeonException($"{context}: the {role} {name} is shared with another node; Surgeon imports weights used once");
        if (tensor.DataType != OnnxTensors.Float)
            throw new SurgeonException($"{context}: the {role} {name} is {OnnxTensors.DataTypeName(tensor.DataType)}; Surgeon imports float32 weights");
        return tensor;
    }

    /// <summary>An initializer read as a constant (never a weight).</summary>
    private TensorProto Constant(string name, string context, string role) =>
        initializers.TryGetValue(name, out var tensor) ? tensor
            : ConstantNodes.TryGetValue(name, out var value) ? value
            : throw new SurgeonException($"{context}: {role} ({name}) is computed by the graph; Surgeon needs it constant");

    private double Scalar(string name, string context, string role)
    {
        var t = Constant(name, context, role);
        using var value = OnnxTensors.ToTensor(t, context);
        return value.numel() == 1 ? value.to(ScalarType.Float64).item<double>() : throw new SurgeonException($"{context}: {role} is not a single number");
    }

    /// <summary>Values of the graph's Constant nodes (filled by the graph model before translation).</summary>
    public Dictionary<string, TensorProto> ConstantNodes { get; } = new(StringComparer.Ordinal);

    private static void Load(Tensor target, TensorProto source, string context)
    {
        using var value = OnnxTensors.ToTensor(source, context);
        using (no_grad())
            target.copy_(value.reshape(target.shape));
    }

    /// <summary>
    /// The module's name: its weight's name without ".weight" when it has one (PyTorch's exports name weights after the
    /// module), else the node's; dots become underscores (a module name may not contain one) and clashes get a suffix.
    /// </summary>
    private string ModuleName(NodeProto node, string weight)
    {
        string baseName = weight.EndsWith(".weight", StringComparison.Ordinal) ? weight[..^".weight".Length]
            : node.Name.Length > 0 ? node.Name : weight;
        var chars = baseName.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray();
        string name = chars.Length == 0 || char.IsDigit(chars[0]) ? "n" + new string(chars) : new string(chars);
        string unique = name;
        for (int i = 2; !moduleNames.Add(unique); i++) unique = $"{name}_{i}";
        return unique;
    }
}
