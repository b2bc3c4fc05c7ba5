using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>One filter group after unused-path removal.</summary>
/// <param name="Masked">Channels of a non-removable group (ResNet's residual stream) masked instead of cut.</param>
/// <param name="Folded">Constant channels whose value went into the next layers' biases before they were cut.</param>
/// <param name="ConstantsKept">Channels left at the end that compute an input-independent nonzero constant (zero
/// weights, but a bias or BatchNorm shift) that cannot be folded; dropping them would change the logits.</param>
internal sealed record UnusedPathGroup(string Name, bool Removable, int ChannelsBefore, int ChannelsAfter, int Masked, int Folded,
    int ConstantsKept);

/// <param name="Model">The smaller model (a new one; the input model is left as it was).</param>
/// <param name="Rounds">Passes that changed the model before the fixed point (0: nothing was unused).</param>
internal sealed record UnusedPathResult(nn.Module<Tensor, Tensor> Model, int Rounds, IReadOnlyList<UnusedPathGroup> Groups)
{
    public int ChannelsRemoved => Groups.Sum(g => g.ChannelsBefore - g.ChannelsAfter);
}

/// <summary>
/// Unused-path removal (Ma et al., "ResNet Can Be Pruned 60x", arXiv:1905.00136) as a pass over the filter groups and
/// <see cref="IStructuredModel.Shrink"/>: a channel whose filter computes nothing (all zero, see <see cref="ChannelUse"/>)
/// takes the next layer's input channel with it, and a channel whose next-layer input weights are all zero takes its
/// filter (and BatchNorm channel) with it; each cut can empty further filters or input channels, so the pass repeats
/// until a round finds nothing (the fixed point). Residual-stream channels are masked, never cut: their producers,
/// norms and readers are zeroed, the shape stays. A constant channel (zero weights, nonzero bias) is folded into its
/// readers' biases where that is exact (<see cref="ConstantFolding"/>) and then cut; otherwise it is kept and counted,
/// unless <c>dropConstantChannels</c> drops its constant as the papers do (the only case where logits change).
/// Every other cut leaves every logit as it was, in train and eval mode alike.
/// </summary>
internal static class UnusedPathRemoval
{
    public static UnusedPathResult Run(nn.Module<Tensor, Tensor> model, bool dropConstantChannels = false)
    {
        if (model is not IStructuredModel structured)
            throw new SurgeonException($"unused-path removal needs a model with filter groups ({string.Join(", ", ModelRegistry.Names.Where(n => n != "mlpnet"))}); a {model.GetType().Name} has none");
        var before = structured.FilterGroups.ToDictionary(g => g.Name, g => g.Channels);
        var masked = before.Keys.ToDictionary(n => n, _ => 0);
        var folded = before.Keys.ToDictionary(n => n, _ => 0);
        var constants = before.Keys.ToDictionary(n => n, _ => 0);
        var working = structured.Shrink(new Dictionary<string, long[]>()); // a copy the pass may edit
        int rounds = 0;
        // Each round that changes anything cuts or masks at least one channel, so there are at most Σ channels of them.
        for (int limit = before.Values.Sum() + 1; ; limit--)
        {
            if (limit == 0)
                throw new InvalidOperationException("unused-path removal found no fixed point");
            var keep = Round((IStructuredModel)working, dropConstantChannels, masked, folded, constants, out bool maskedNew);
            if (keep.Count == 0 && !maskedNew) break;
            rounds++;
            if (keep.Count == 0) continue;
            var next = ((IStructuredModel)working).Shrink(keep, KeepFloor.One);
            working.Dispose();
            working = next;
        }
        var after = ((IStructuredModel)working).FilterGroups;
        var groups = after.Select(g => new UnusedPathGroup(g.Name, g.Removable, before[g.Name], g.Channels,
            masked[g.Name], folded[g.Name], constants[g.Name])).ToList();
        return new UnusedPathResult(working, rounds, groups);
    }

    /// <summary>
    /// One pass: finds the unused channels of every group, folds the constants to be cut, masks the non-removable
    /// ones, and returns what the removable groups keep (only the groups that lose channels).
    /// </summary>
    private static Dictionary<string, long[]> Round(IStructuredModel model, bool dropConstants, Dictionary<string, int> masked,
        Dictionary<string, int> folded, Dictionary<string, int> constants, out bool maskedNew)
    {
        var module = (nn.Module<Tensor, Tensor>)model;
        var parameters = module.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        var modules = module.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var uses = model.FilterGroups.Select(g => ChannelUse.Of(g, parameters)).ToList();
        var foldable = uses.Where(u => u.Unproduced.Any(x => x) && ConstantFolding.Foldable(u.Group, modules)).Select(u => u.Group).ToList();
        using var probe = foldable.Count == 0 ? null : ConstantFolding.Probe(module, model.Spec, foldable);
        var keep = new Dictionary<string, long[]>();
        maskedNew = false;
        foreach (var use in uses)
        {
            var g = use.Group;
            var free = new List<long>();      // empty or unread: cut as they are
            var constant = new List<long>();  // unproduced: cut only after folding (or when constants are dropped)
            for (int c = 0; c < g.Channels; c++)
            {
                if (use.Empty[c] || use.Unread[c]) free.Add(c);
                else if (use.Unproduced[c]) constant.Add(c);
            }
            if (!g.Removable)
            {
                constants[g.Name] = dropConstants ? 0 : constant.Count;
                var dead = free.Concat(dropConstants ? constant : []).ToList();
                masked[g.Name] = dead.Count;
                // Only a channel with something left to zero is news: a masked channel stays unused, round after round.
                var fresh = dead.Where(c => !Masked(g, c, parameters)).ToList();
                if (fresh.Count == 0) continue;
                Mask(module, g, fresh);
                maskedNew = true;
                continue;
            }
            // A group keeps at least one channel: if every channel is unused, one that needs no folding stays.
            int? stays = free.Count + constant.Count < g.Channels ? null : (int)(free.Count > 0 ? free[0] : constant[0]);
            var cut = free.Where(c => c != stays).ToList();
            int kept = 0;
            foreach (int c in constant.Where(c => c != stays))
            {
                if (probe is not null && foldable.Contains(g) && probe.TryFold(g, c))
                {
                    folded[g.Name]++;
                    cut.Add(c);
                }
                else if (dropConstants) cut.Add(c);
                else kept++;
            }
            constants[g.Name] = kept;
            if (cut.Count > 0)
                keep[g.Name] = Enumerable.Range(0, g.Channels).Select(c => (long)c).Except(cut).ToArray();
        }
        return keep;
    }

    /// <summary>Whether a channel's producers, biases, norm γ and β, and readers' input weights are all zero already.</summary>
    private static bool Masked(FilterGroup group, long channel, IReadOnlyDictionary<string, Tensor> parameters)
    {
        using var scope = NewDisposeScope();
        var slices = group.Producers.Concat(group.Biases).Concat(group.Norms).Concat(group.Norms.Select(FilterMasking.NormBias))
            .Select(name => parameters[name][channel])
            .Concat(group.Consumers.Select(c => parameters[c.Weight].narrow(1, channel * c.Block, c.Block)));
        return slices.All(t => t.count_nonzero().item<long>() == 0);
    }

    /// <summary>Zeroes a non-removable group's channels: producers, biases, norms (<see cref="FilterMasking"/>) and readers.</summary>
    private static void Mask(nn.Module<Tensor, Tensor> model, FilterGroup group, IReadOnlyList<long> channels)
    {
        FilterMasking.Zero(model, group, channels);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var consumer in group.Consumers)
        {
            var w = parameters[consumer.Weight];
            var entries = channels.SelectMany(c => Enumerable.Range(0, consumer.Block).Select(i => c * consumer.Block + i)).ToArray();
            w.index_fill_(1, tensor(entries, ScalarType.Int64, w.device), HeldScalars.Of(0));
        }
    }
}
