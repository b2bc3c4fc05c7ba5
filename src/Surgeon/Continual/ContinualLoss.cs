using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>
/// The training loss of a continual run: cross-entropy on the logits (Surgeon's default), or the rank-update paper's
/// (its official notebook's): the mean squared error between the softmax output and the one-hot label, averaged over
/// the batch and the classes.
/// </summary>
internal static class ContinualLoss
{
    public const string CrossEntropy = "cross-entropy";
    public const string MseSoftmax = "mse-softmax";
    public static readonly IReadOnlyList<string> Names = [CrossEntropy, MseSoftmax];

    public static string Check(string name) => Names.Contains(name)
        ? name
        : throw new SurgeonException($"unknown --loss '{name}': use {string.Join(", ", Names)}");

    /// <summary>The loss of <paramref name="logits"/> (N×K) against the int64 <paramref name="labels"/> (N).</summary>
    public static Tensor Of(string name, Tensor logits, Tensor labels) => Check(name) switch
    {
        MseSoftmax => nn.functional.mse_loss(nn.functional.softmax(logits, 1),
            nn.functional.one_hot(labels, logits.shape[1]).to(logits.dtype)),
        _ => nn.functional.cross_entropy(logits, labels),
    };
}
