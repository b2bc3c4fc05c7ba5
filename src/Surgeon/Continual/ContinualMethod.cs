using Surgeon.Data;
using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>
/// A way to learn tasks one after another with the task id known at test time: it learns each task from that task's
/// data only, gives any earlier task's outputs, and says what it stores.
/// </summary>
internal abstract class ContinualMethod : IDisposable
{
    public abstract string Name { get; }

    /// <summary>Learns task <paramref name="task"/> (0-based; tasks come in order).</summary>
    public abstract void Learn(int task, ContinualTask data, ContinualTrainer trainer);

    /// <summary>Task <paramref name="task"/>'s logits for <paramref name="inputs"/> as the method stands now.</summary>
    public abstract Tensor Logits(int task, Tensor inputs);

    /// <summary>The float32 parameters stored for all tasks learnt so far.</summary>
    public abstract long StoredParameters { get; }

    /// <summary>Bytes stored beside the parameters (PackNet's weight-to-task map).</summary>
    public virtual long ExtraBytes => 0;

    /// <summary>Everything stored: 4 bytes per parameter plus <see cref="ExtraBytes"/>.</summary>
    public long Bytes => 4 * StoredParameters + ExtraBytes;

    public abstract void Dispose();

    public static readonly IReadOnlyList<string> Names = ["rank-update", "packnet", "finetune", "independent"];

    public static ContinualMethod Create(string name) => name switch
    {
        "rank-update" => new RankUpdateMethod(),
        "packnet" => new PackNetMethod(),
        "finetune" => new FineTuneMethod(),
        "independent" => new IndependentMethod(),
        _ => throw new SurgeonException($"unknown continual method '{name}': use {string.Join(", ", Names)}"),
    };

    internal static long InputsOf(ImageDataset data) => (long)data.Channels * data.Height * data.Width;
}
