using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// The shared body of <see cref="IStructuredModel.Shrink"/>: validates the keep lists, builds the smaller model from
/// the spec with the new channel counts (through <see cref="ModelRegistry"/>), and copies every parameter and buffer,
/// sliced along the dims its <see cref="ChannelLayout"/> names.
/// </summary>
internal static class StructuredShrink
{
    public static nn.Module<Tensor, Tensor> Shrink(nn.Module<Tensor, Tensor> model, ModelSpec spec, ChannelLayout layout,
        IReadOnlyDictionary<string, long[]> keep, KeepFloor floor = KeepFloor.FivePercent)
    {
        var groups = layout.FilterGroups();
        var kept = new long[]?[groups.Count];    // removable groups: the surviving channels (null: all)
        var masked = new long[]?[groups.Count];  // non-removable groups: the channels to zero
        foreach (var (name, list) in keep)
        {
            int g = IndexOf(groups, name, spec.Architecture);
            groups[g].ValidateKeep(list, floor);
            if (groups[g].Removable)
                kept[g] = list;
            else
                masked[g] = Enumerable.Range(0, groups[g].Channels).Select(c => (long)c).Except(list).ToArray();
        }
        var channels = groups.Select((grp, g) => kept[g]?.Length ?? grp.Channels).ToArray();
        var fresh = ModelRegistry.Create(spec with { Channels = channels });

        // The copy lives where the original lives and in its precision.
        var first = model.parameters().First();
        var device = first.device;
        if (first.dtype != ScalarType.Float32)
            fresh.to(first.dtype);
        if (device.type != DeviceType.CPU)
            fresh.to(device);
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var source = model.state_dict();
            foreach (var (name, target) in fresh.state_dict())
            {
                if (!source.TryGetValue(name, out var value))
                    throw new InvalidOperationException($"{spec.Architecture}: the rebuilt model has {name}, the original does not");
                var (dim0, dim1, block) = layout.Slices(name);
                if (dim0 is int g0 && kept[g0] is { } k0)
                    value = value.index_select(0, tensor(k0, ScalarType.Int64, device));
                if (dim1 is int g1 && kept[g1] is { } k1)
                    value = value.index_select(1, tensor(Entries(k1, block), ScalarType.Int64, device));
                if (!value.shape.SequenceEqual(target.shape))
                    throw new InvalidOperationException(
                        $"{spec.Architecture}: {name} sliced to [{string.Join(',', value.shape)}] but the rebuilt model needs [{string.Join(',', target.shape)}]");
                target.copy_(value);
            }
        }
        for (int g = 0; g < groups.Count; g++)
            if (masked[g] is { } drop)
                FilterMasking.Zero(fresh, groups[g], drop);
        fresh.train(model.training);
        return fresh;
    }

    /// <summary>The input entries of the kept channels when each channel spans <paramref name="block"/> entries.</summary>
    private static long[] Entries(long[] channels, int block) =>
        block == 1 ? channels : channels.SelectMany(c => Enumerable.Range(0, block).Select(i => c * block + i)).ToArray();

    /// <summary>Checks that every name in the layout exists in the model (a construction bug otherwise).</summary>
    public static void CheckNames(nn.Module model, ChannelLayout layout)
    {
        var names = model.state_dict().Keys.ToHashSet();
        var missing = layout.Names.Where(n => !names.Contains(n)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"channel layout names unknown state tensors: {string.Join(", ", missing)}");
    }

    private static int IndexOf(IReadOnlyList<FilterGroup> groups, string name, string architecture)
    {
        for (int g = 0; g < groups.Count; g++)
            if (groups[g].Name == name) return g;
        throw new SurgeonException(
            $"{architecture} has no filter group '{name}' (groups: {string.Join(", ", groups.Take(6).Select(x => x.Name))}{(groups.Count > 6 ? ", …" : "")})");
    }
}
