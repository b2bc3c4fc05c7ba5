namespace Surgeon.Models;

/// <summary>
/// Which state tensors (parameters and buffers, by state_dict name) index which filter group, and along which dim:
/// dim 0 for producers (conv and linear weights and biases, BatchNorm weight/bias/running statistics), dim 1 for
/// consumers (the next layers' input channels, a block of entries per channel after a flatten). A structured model
/// builds one in its constructor; <see cref="StructuredShrink"/> slices by it, so the per-model code only says how its
/// layers connect.
/// </summary>
internal sealed class ChannelLayout
{
    private sealed record Group(string Name, int Channels, bool Removable, List<string> Producers, List<string> Biases,
        List<string> Norms, List<ChannelConsumer> Consumers);

    private readonly List<Group> groups = [];
    private readonly Dictionary<string, int> dim0 = [];
    private readonly Dictionary<string, (int Group, int Block)> dim1 = [];

    /// <summary>Adds a group and returns its index (groups keep the order they are added in).</summary>
    public int AddGroup(string name, int channels, bool removable = true)
    {
        if (groups.Any(g => g.Name == name))
            throw new InvalidOperationException($"filter group '{name}' defined twice");
        groups.Add(new Group(name, channels, removable, [], [], [], []));
        return groups.Count - 1;
    }

    /// <summary>
    /// A conv (or depthwise conv) or linear module whose output channels are the group's: its weight's dim 0, and its
    /// bias when <paramref name="hasBias"/>.
    /// </summary>
    public void Producer(int group, string module, bool hasBias = false)
    {
        string weight = module + ".weight";
        dim0.Add(weight, group);
        groups[group].Producers.Add(weight);
        if (!hasBias) return;
        string bias = module + ".bias";
        dim0.Add(bias, group);
        groups[group].Biases.Add(bias);
    }

    /// <summary>A BatchNorm over the group's channels: γ, β and the running statistics are sliced along dim 0.</summary>
    public void Norm(int group, string bnModule)
    {
        foreach (string t in new[] { "weight", "bias", "running_mean", "running_var" })
            dim0.Add($"{bnModule}.{t}", group);
        groups[group].Norms.Add(bnModule + ".weight");
    }

    /// <summary>
    /// A conv or linear weight whose input entries (dim 1) are the group's channels, <paramref name="block"/>
    /// consecutive entries per channel (a linear layer after a flatten of H×W maps reads H·W per channel).
    /// </summary>
    public void Consumer(int group, string weight, int block = 1)
    {
        if (block < 1)
            throw new InvalidOperationException($"consumer {weight}: a channel spans at least one input entry, got {block}");
        dim1.Add(weight, (group, block));
        groups[group].Consumers.Add(new ChannelConsumer(weight, block));
    }

    public IReadOnlyList<FilterGroup> FilterGroups() =>
        groups.Select(g => new FilterGroup(g.Name, g.Channels, g.Producers.ToArray(), g.Norms.ToArray(), g.Removable)
        {
            Biases = g.Biases.ToArray(),
            Consumers = g.Consumers.ToArray(),
        }).ToArray();

    /// <summary>
    /// The group indexed by dim 0 and by dim 1 of a state tensor (null: that dim is not sliced), and how many dim-1
    /// entries a channel spans.
    /// </summary>
    public (int? Dim0, int? Dim1, int Block) Slices(string stateName)
    {
        int? d0 = dim0.TryGetValue(stateName, out int a) ? a : null;
        return dim1.TryGetValue(stateName, out var b) ? (d0, b.Group, b.Block) : (d0, null, 1);
    }

    /// <summary>Every state tensor name the layout mentions, so a model can check its names against its state_dict.</summary>
    public IEnumerable<string> Names => dim0.Keys.Concat(dim1.Keys);
}
