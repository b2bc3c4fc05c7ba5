using static TorchSharp.torch;

namespace Surgeon.Models.Onnx;

/// <summary>
/// The channel dependencies of an imported graph, DepGraph-style (Fang et al., CVPR 2023): each conv or linear layer
/// starts a set of channels; BatchNorms, activations, pools and depthwise convs carry a set through; an Add (or Mul,
/// Sub, Div) of two computed values joins their sets into one (a residual stream is one group), a Concat lays sets
/// side by side, a Flatten spreads each channel over H·W entries. Every tensor entry that belongs to a channel is
/// recorded as a slice (state name, dim, offset, block), so removing channels of a set removes exactly those entries
/// everywhere. Anything the analysis cannot follow (a Reshape, Transpose, Softmax, grouped conv, a per-channel
/// constant, the graph's input and output) fixes the sets it touches: they are never pruned.
/// </summary>
internal sealed class OnnxDependencies
{
    private readonly record struct Segment(int Set, long Length);

    /// <param name="Block">Entries per channel along the last axis (H·W after a flatten of N×C×H×W; 1 before).</param>
    private sealed record ValueMap(IReadOnlyList<Segment> Segments, long Block)
    {
        public long Channels => Segments.Sum(s => s.Length);
    }

    /// <summary>Entries Offset + c·Block … + Block − 1 of dim <paramref name="Dim"/> of state tensor <paramref name="State"/> belong to channel c of the set.</summary>
    private readonly record struct Slice(string State, int Dim, long Offset, long Block, int Set);

    private readonly List<long> channels = [];
    private readonly List<string> names = [];
    private readonly List<bool> fixedSets = [];
    private readonly List<int> parent = [];
    private readonly List<List<string>> producers = [], biases = [], norms = [];
    private readonly List<Slice> slices = [];
    private readonly OnnxGraphModel model;

    public OnnxDependencies(OnnxGraphModel model)
    {
        this.model = model;
        var maps = new Dictionary<string, ValueMap>(StringComparer.Ordinal)
        {
            [model.InputName] = Opaque(model.InputShape.Length > 0 ? model.InputShape[0] : 1),
        };
        foreach (var step in model.Steps)
            maps[step.Output] = Follow(step, maps);
        if (maps.TryGetValue(model.OutputName, out var output))
            Fix(output);
        Groups = BuildGroups();
    }

    /// <summary>The sets that may be pruned (not fixed, with at least one producer), as filter groups.</summary>
    public IReadOnlyList<FilterGroup> Groups { get; }

    /// <summary>
    /// The state values of a smaller model: every tensor entry of a removed channel cut out. <paramref name="keep"/>
    /// holds, by group name, the channels kept (validated by the caller).
    /// </summary>
    public Dictionary<string, Tensor> Sliced(IReadOnlyDictionary<string, long[]> keep)
    {
        var removed = new Dictionary<int, HashSet<long>>();
        foreach (var (name, kept) in keep)
        {
            int root = RootOf(name);
            var set = Enumerable.Range(0, (int)channels[root]).Select(c => (long)c).Except(kept).ToHashSet();
            if (set.Count > 0) removed[root] = set;
        }
        var state = model.state_dict();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var byState in slices.GroupBy(s => s.State))
        {
            var value = state[byState.Key];
            foreach (var byDim in byState.GroupBy(s => s.Dim).OrderBy(g => g.Key))
            {
                var alive = Enumerable.Repeat(true, (int)value.shape[byDim.Key]).ToArray();
                foreach (var slice in byDim)
                    if (removed.TryGetValue(Find(slice.Set), out var gone))
                        foreach (long c in gone)
                            for (long e = slice.Offset + c * slice.Block; e < slice.Offset + (c + 1) * slice.Block; e++)
                                alive[e] = false;
                if (alive.All(a => a)) continue;
                var index = Enumerable.Range(0, alive.Length).Where(e => alive[e]).Select(e => (long)e).ToArray();
                value = value.index_select(byDim.Key, tensor(index, ScalarType.Int64, value.device));
            }
            result[byState.Key] = value;
        }
        return result;
    }

    private ValueMap Follow(OnnxStep step, Dictionary<string, ValueMap> maps)
    {
        var inputs = step.Inputs.Select(i => maps.GetValueOrDefault(i)).ToList();
        long outChannels = model.ProbeShapes.TryGetValue(step.Output, out var shape) && shape.Length >= 2 ? shape[1] : 1;
        switch (step)
        {
            case ConvStep conv:
                {
                    var input = inputs[0]!;
                    string weight = $"{conv.ModuleName}.weight", bias = $"{conv.ModuleName}.bias";
                    long inChannels = conv.Conv.weight!.shape[1] * conv.Groups;
                    if (conv.Groups == 1)
                    {
                        Consume(input, weight, dim: 1);
                        return Produce(conv.ModuleName, outChannels, weight, conv.BiasName is null ? null : bias);
                    }
                    if (conv.Groups == inChannels && outChannels == inChannels && input.Block == 1)
                    {
                        // Depthwise: filter c reads and writes channel c only, so it follows its input's sets.
                        Carry(input, weight, asProducer: true);
                        if (conv.BiasName is not null) Carry(input, bias, asBias: true);
                        return input;
                    }
                    Fix(input);
                    return Opaque(outChannels);
                }
            case LinearStep linear:
                {
                    var input = inputs[0]!;
                    string weight = $"{linear.ModuleName}.weight", bias = $"{linear.ModuleName}.bias";
                    if (input.Channels * input.Block == linear.Linear.in_features && model.ProbeShapes[step.Inputs[0]].Length == 2)
                        Consume(input, weight, dim: 1);
                    else
                        Fix(input);
                    return Produce(linear.ModuleName, outChannels, weight, linear.BiasName is null ? null : bias);
                }
            case NormStep norm:
                {
                    var input = inputs[0]!;
                    foreach (string local in new[] { "weight", "bias", "running_mean", "running_var" })
                        Carry(input, $"{norm.ModuleName}.{local}", asNorm: local == "weight");
                    return input;
                }
        }
        var first = inputs.FirstOrDefault(i => i is not null);
        switch (step.OpType)
        {
            case "Relu" or "LeakyRelu" or "Clip" or "Sigmoid" or "Tanh" or "Dropout" or "Identity" or "Cast" or "MaxPool" or "AveragePool" or "GlobalAveragePool"
                when first is not null && first.Block == 1:
                return first;
            case "Pad" when first is not null && first.Block == 1 && model.ProbeShapes[step.Output][1] == first.Channels:
                return first;
            case "Add" or "Sub" or "Mul" or "Div":
                return Elementwise(step, inputs);
            case "Concat" when inputs.All(i => i is not null && i.Block == 1) && ConcatAxis(step, model.ProbeShapes[step.Output].Length) == 1:
                return new ValueMap(inputs.SelectMany(i => i!.Segments).ToList(), 1);
            case "Flatten" when first is not null && first.Block == 1:
                {
                    var before = model.ProbeShapes[step.Inputs[0]];
                    long axis = new OnnxAttributes(step.Node, step.Context).Int("axis", 1);
                    if (axis == 1 && before.Length >= 2)
                        return first with { Block = before.Skip(2).Aggregate(1L, (a, b) => a * b) };
                    break;
                }
        }
        foreach (var map in inputs)
            if (map is not null) Fix(map);
        return Opaque(outChannels);
    }

    /// <summary>Two computed operands: their sets are one (pairwise). A constant operand: only one that broadcasts over the channels keeps them prunable.</summary>
    private ValueMap Elementwise(OnnxStep step, List<ValueMap?> inputs)
    {
        var a = inputs[0];
        var b = inputs.Count > 1 ? inputs[1] : null;
        if (a is not null && b is not null)
        {
            if (a.Block == b.Block && a.Segments.Count == b.Segments.Count && a.Segments.Zip(b.Segments).All(p => p.First.Length == p.Second.Length))
            {
                foreach (var (x, y) in a.Segments.Zip(b.Segments)) Union(x.Set, y.Set);
                return a;
            }
            Fix(a);
            Fix(b);
            return Opaque(a.Channels);
        }
        var computed = a ?? b;
        if (computed is null) return Opaque(1);
        int constantIndex = a is null ? 0 : 1;
        var constantShape = model.ConstantShape(step.Inputs[constantIndex]);
        int rank = model.ProbeShapes[step.Output].Length;
        // Axis 1 of the output lines up with axis 1 − (rank − constant rank) of the constant (numpy broadcasting).
        int axis = 1 - (rank - (constantShape?.Length ?? 0));
        if (constantShape is not null && computed.Block == 1 && (axis < 0 || constantShape[axis] == 1))
            return computed;
        Fix(computed);
        return Opaque(computed.Channels);
    }

    private static long ConcatAxis(OnnxStep step, int rank) => new OnnxAttributes(step.Node, step.Context).Int("axis", 1) is var axis && axis < 0 ? axis + rank : axis;

    private ValueMap Produce(string name, long count, string weight, string? bias)
    {
        int set = NewSet(name, count, fixedSet: false);
        producers[set].Add(weight);
        slices.Add(new Slice(weight, 0, 0, 1, set));
        if (bias is not null)
        {
            biases[set].Add(bias);
            slices.Add(new Slice(bias, 0, 0, 1, set));
        }
        return new ValueMap([new Segment(set, count)], 1);
    }

    /// <summary>A layer reading the value: its input entries along <paramref name="dim"/> belong to the value's channels.</summary>
    private void Consume(ValueMap input, string state, int dim)
    {
        long offset = 0;
        foreach (var segment in input.Segments)
        {
            slices.Add(new Slice(state, dim, offset * input.Block, input.Block, segment.Set));
            offset += segment.Length;
        }
    }

    /// <summary>A per-channel tensor (BatchNorm parameter, depthwise filter) that follows the value's channels along dim 0.</summary>
    private void Carry(ValueMap input, string state, bool asProducer = false, bool asBias = false, bool asNorm = false)
    {
        long offset = 0;
        foreach (var segment in input.Segments)
        {
            slices.Add(new Slice(state, 0, offset, 1, segment.Set));
            offset += segment.Length;
        }
        // A group's producers and norms are indexed by its channels alone (dim 0 = its size): only where one set spans the tensor.
        if (input.Segments.Count != 1) return;
        int set = input.Segments[0].Set;
        if (asProducer) producers[set].Add(state);
        if (asBias) biases[set].Add(state);
        if (asNorm) norms[set].Add(state);
    }

    private ValueMap Opaque(long count) => new([new Segment(NewSet("", count, fixedSet: true), count)], 1);

    private int NewSet(string name, long count, bool fixedSet)
    {
        channels.Add(count);
        names.Add(name);
        fixedSets.Add(fixedSet);
        parent.Add(parent.Count);
        producers.Add([]);
        biases.Add([]);
        norms.Add([]);
        return parent.Count - 1;
    }

    private void Fix(ValueMap map)
    {
        foreach (var segment in map.Segments) fixedSets[Find(segment.Set)] = true;
    }

    private int Find(int set)
    {
        while (parent[set] != set) set = parent[set] = parent[parent[set]];
        return set;
    }

    /// <summary>Joins two sets; the earlier one (the first producer in graph order) names the result.</summary>
    private void Union(int a, int b)
    {
        int x = Find(a), y = Find(b);
        if (x == y) return;
        if (y < x) (x, y) = (y, x);
        parent[y] = x;
        fixedSets[x] |= fixedSets[y] || channels[x] != channels[y];
    }

    private int RootOf(string groupName)
    {
        for (int s = 0; s < parent.Count; s++)
            if (Find(s) == s && names[s] == groupName) return s;
        throw new SurgeonException($"{model.FileName} has no filter group '{groupName}'");
    }

    private List<FilterGroup> BuildGroups()
    {
        var groups = new List<FilterGroup>();
        for (int root = 0; root < parent.Count; root++)
        {
            if (Find(root) != root || fixedSets[root]) continue;
            var members = Enumerable.Range(0, parent.Count).Where(s => Find(s) == root).ToList();
            var produced = members.SelectMany(s => producers[s]).Distinct().ToList();
            if (produced.Count == 0) continue;
            groups.Add(new FilterGroup(names[root], (int)channels[root], produced, members.SelectMany(s => norms[s]).Distinct().ToList())
            {
                Biases = members.SelectMany(s => biases[s]).Distinct().ToList(),
            });
        }
        return groups;
    }
}
