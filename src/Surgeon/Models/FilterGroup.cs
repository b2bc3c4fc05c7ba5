namespace Surgeon.Models;

/// <summary>
/// A set of output channels that structured pruning keeps or removes together. Channel c of the group is the c-th
/// slice along dim 0 of every producer weight (a conv or linear weight, or a depthwise conv that follows a pointwise
/// one), the c-th entry of every producer bias and of every norm parameter (a BatchNorm's weight γ), and the c-th
/// block of input entries (dim 1) of every consumer weight. <see cref="IStructuredModel.Shrink"/> slices them all.
/// </summary>
/// <param name="Name">Stable name, e.g. "features.3" or "layer1.0.conv1".</param>
/// <param name="Channels">Current number of channels.</param>
/// <param name="Producers">Parameter names (as in named_parameters) whose dim 0 indexes the group's channels.</param>
/// <param name="Norms">BatchNorm weight (γ) parameter names whose entries index the group's channels.</param>
/// <param name="Removable">True: pruned channels are removed and the model shrinks. False (ResNet's residual
/// stream): pruned channels are masked (their producer slices and norm entries set to zero), the shape stays.</param>
internal sealed record FilterGroup(string Name, int Channels, IReadOnlyList<string> Producers, IReadOnlyList<string> Norms,
    bool Removable = true)
{
    /// <summary>Bias parameter names of the producers (LeNet's convs and linears; the BatchNorm models' convs have none):
    /// entry c belongs to channel c.</summary>
    public IReadOnlyList<string> Biases { get; init; } = [];

    /// <summary>The weights that read the group's channels (the next layers' inputs), with how many input entries each
    /// channel spans.</summary>
    public IReadOnlyList<ChannelConsumer> Consumers { get; init; } = [];

    /// <summary>At least 5 % of each layer's channels (and at least one) survive any pruning (the authors' rule).</summary>
    public int MinKeep => Math.Max(1, (int)Math.Ceiling(0.05 * Channels));

    /// <summary>Throws a <see cref="SurgeonException"/> unless <paramref name="keep"/> is a valid list of channels to
    /// keep: sorted ascending, without repeats, inside 0..Channels−1, at least <see cref="MinKeep"/> of them (at least
    /// one with <paramref name="floor"/> <see cref="KeepFloor.One"/>).</summary>
    public void ValidateKeep(IReadOnlyList<long>? keep, KeepFloor floor = KeepFloor.FivePercent)
    {
        int minimum = floor == KeepFloor.One ? 1 : MinKeep;
        if (keep is null || keep.Count < minimum)
            throw new SurgeonException(floor == KeepFloor.One
                ? $"filter group {Name}: keeping {keep?.Count ?? 0} of {Channels} channels; a group keeps at least 1"
                : $"filter group {Name}: keeping {keep?.Count ?? 0} of {Channels} channels, fewer than the minimum {MinKeep} (5 %, at least 1)");
        for (int i = 0; i < keep.Count; i++)
        {
            if (keep[i] < 0 || keep[i] >= Channels)
                throw new SurgeonException($"filter group {Name}: channel {keep[i]} is outside 0..{Channels - 1}");
            if (i > 0 && keep[i] <= keep[i - 1])
                throw new SurgeonException(
                    $"filter group {Name}: channels to keep must be sorted ascending without repeats ({keep[i - 1]} then {keep[i]})");
        }
    }
}

/// <summary>
/// A weight that reads a filter group's channels along its dim 1: channel c is input entries c·Block … c·Block + Block − 1
/// (Block = 1 for a conv, or for a linear layer after a global pool; H·W for a linear layer after a flatten of H×W maps).
/// </summary>
internal sealed record ChannelConsumer(string Weight, int Block = 1);

/// <summary>How few channels <see cref="IStructuredModel.Shrink"/> lets a group keep.</summary>
internal enum KeepFloor
{
    /// <summary>At least 5 % of each group (and one): the rule of the pruning drivers (<see cref="FilterGroup.MinKeep"/>).</summary>
    FivePercent,

    /// <summary>At least one channel: for removing channels that compute nothing (unused-path removal), however many.</summary>
    One,
}

/// <summary>A model whose filters can be removed, producing a smaller dense model of the same architecture.</summary>
internal interface IStructuredModel
{
    /// <summary>The spec that rebuilds this model with its current (possibly pruned) channel counts.</summary>
    ModelSpec Spec { get; }

    /// <summary>All filter groups, in a fixed order.</summary>
    IReadOnlyList<FilterGroup> FilterGroups { get; }

    /// <summary>
    /// A new model keeping, for each group named in <paramref name="keep"/>, the channels listed (sorted, distinct,
    /// at least <see cref="FilterGroup.MinKeep"/>, or one with <paramref name="floor"/> <see cref="KeepFloor.One"/>);
    /// groups not named keep all channels. Weights are copied, so the new model computes exactly what this one
    /// computes with the dropped channels' outputs zeroed. Non-removable groups are masked in the copy instead of removed.
    /// </summary>
    TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> Shrink(IReadOnlyDictionary<string, long[]> keep,
        KeepFloor floor = KeepFloor.FivePercent);
}
