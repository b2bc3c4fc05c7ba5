using static TorchSharp.torch;

namespace Surgeon.Selection.Projections;

/// <summary>
/// Channel-wise: input channel c of a conv is its k×k entries in every filter, W[:, c, :, :], the k·k columns
/// (c, ·, ·) of the F × C·k·k matrix together; keep the k channels with the largest ℓ2 norm. Only a conv weight
/// [F, C, k, k] has channels: a linear layer's inputs are its columns (use the column-wise projection), and after a
/// flatten the weight alone does not say how many inputs make one channel, so a weight without 4 dims is refused.
/// </summary>
internal sealed class ChannelProjection : IProjection
{
    public string Name => "channels";

    public long GroupCount(long[] shape, string what) =>
        shape.Length == 4 && shape.All(d => d >= 1)
            ? shape[1]
            : throw new SurgeonException($"{what}: a channel-wise projection needs a conv weight [F, C, k, k], got [{string.Join(", ", shape)}]; for a linear layer use columns");

    public Tensor KeepMask(Tensor weight, KeepTarget keep, string what)
    {
        long channels = GroupCount(weight.shape, what);
        long k = keep.GroupsToKeep(channels, $"{what} (channels)");
        using var scope = NewDisposeScope();
        var groups = weight.detach().transpose(0, 1).reshape(channels, -1);
        var kept = GroupTopK.Keep(groups, k);
        return kept.view(1, channels, 1, 1).expand(weight.shape).contiguous().MoveToOuterDisposeScope();
    }
}
