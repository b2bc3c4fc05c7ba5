using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// What each channel of one filter group computes, read off the weights:
/// <list type="bullet">
/// <item><b>empty</b>: its output is exactly zero for every input. With BatchNorms on the group: every norm's γ_c and β_c
/// are 0 (a norm with γ = β = 0 outputs 0 whatever its input and statistics; how <see cref="FilterMasking"/> masks a
/// filter). Without: every producer slice and bias entry is 0 (ReLU and max-pool keep a 0 a 0).</item>
/// <item><b>unproduced</b>: every producer weight slice is 0 but a bias or a norm shift is not, so the channel is a constant
/// that does not depend on the input.</item>
/// <item><b>unread</b>: every consumer's block of input entries for the channel is 0, so nothing downstream sees it.</item>
/// </list>
/// </summary>
internal sealed class ChannelUse
{
    private ChannelUse(FilterGroup group, bool[] empty, bool[] unproduced, bool[] unread)
    {
        Group = group;
        Empty = empty;
        Unproduced = unproduced;
        Unread = unread;
    }

    public FilterGroup Group { get; }
    public bool[] Empty { get; }
    public bool[] Unproduced { get; }
    public bool[] Unread { get; }

    public static ChannelUse Of(FilterGroup group, IReadOnlyDictionary<string, Tensor> parameters)
    {
        using var scope = NewDisposeScope();
        int n = group.Channels;
        var weightsZero = AllZero(n, group.Producers.Select(p => Rows(Get(parameters, p, group), n)));
        var biasesZero = AllZero(n, group.Biases.Select(b => Rows(Get(parameters, b, group), n)));
        var normsZero = AllZero(n, group.Norms.Concat(group.Norms.Select(FilterMasking.NormBias)).Select(p => Rows(Get(parameters, p, group), n)));
        // A group nothing reads (none in the registry models) counts as read: its channels may reach the output.
        var unread = group.Consumers.Count == 0
            ? new bool[n]
            : AllZero(n, group.Consumers.Select(c => Columns(Get(parameters, c.Weight, group), n, c)));
        var empty = new bool[n];
        var unproduced = new bool[n];
        for (int c = 0; c < n; c++)
        {
            empty[c] = group.Norms.Count > 0 ? normsZero[c] : weightsZero[c] && biasesZero[c];
            unproduced[c] = !empty[c] && weightsZero[c];
        }
        return new ChannelUse(group, empty, unproduced, unread);
    }

    /// <summary>[channels, rest]: the channel's slice of a producer (dim 0).</summary>
    private static Tensor Rows(Tensor t, int channels) => t.detach().reshape(channels, -1);

    /// <summary>[channels, rest]: the channel's block of input entries of a consumer (dim 1).</summary>
    private static Tensor Columns(Tensor weight, int channels, ChannelConsumer consumer)
    {
        if (weight.dim() < 2 || weight.shape[1] != (long)channels * consumer.Block)
            throw new InvalidOperationException(
                $"{consumer.Weight} is [{string.Join(", ", weight.shape)}]; {channels} channels of {consumer.Block} inputs each need dim 1 = {channels * consumer.Block}");
        return weight.detach().transpose(0, 1).reshape(channels, -1);
    }

    /// <summary>Per channel: whether every given [channels, rest] tensor is 0 on the channel's row.</summary>
    private static bool[] AllZero(int channels, IEnumerable<Tensor> rows)
    {
        var zero = Enumerable.Repeat(true, channels).ToArray();
        foreach (var r in rows)
        {
            var sums = r.abs().sum(dim: 1).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
            for (int c = 0; c < channels; c++)
                if (sums[c] != 0) zero[c] = false;
        }
        return zero;
    }

    private static Tensor Get(IReadOnlyDictionary<string, Tensor> parameters, string name, FilterGroup group) =>
        parameters.TryGetValue(name, out var t)
            ? t
            : throw new InvalidOperationException($"filter group {group.Name} names {name}, which the model does not have");
}
