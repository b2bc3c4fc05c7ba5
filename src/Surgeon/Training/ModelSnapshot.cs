using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>A copy of every parameter and buffer of a model, to restore the dense model between pruning runs.</summary>
internal sealed class ModelSnapshot : IDisposable
{
    private readonly List<(Tensor Target, Tensor Saved)> entries = [];

    public ModelSnapshot(nn.Module model)
    {
        using var _ = no_grad();
        foreach (var (_, p) in model.named_parameters())
            entries.Add((p, p.detach().clone().DetachFromDisposeScope()));
        foreach (var (_, b) in model.named_buffers())
            entries.Add((b, b.detach().clone().DetachFromDisposeScope()));
    }

    public void Restore()
    {
        using var _ = no_grad();
        foreach (var (target, saved) in entries)
            target.copy_(saved);
    }

    public void Dispose()
    {
        foreach (var (_, saved) in entries) saved.Dispose();
        entries.Clear();
    }
}
