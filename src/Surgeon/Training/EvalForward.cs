using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>
/// The forward pass of an evaluation (eval mode, no gradients) over a batch of any size. On the CPU a model with
/// convolutions is run on chunks of <see cref="ConvChunk"/> examples and the logits concatenated. Why: with oneDNN off
/// (<see cref="Numerics.ConvolutionBackend"/>) libtorch's convolution unfolds the whole batch's input before its GEMMs
/// (C_in·k²·H·W floats per example: 141 MB for 313 Fashion images at ResNet-20's first stage), so a batch of hundreds
/// runs at the speed of memory. Measured with bench <c>cbs-phase-profile</c> (ResNet-20, 313 images, one thread): one
/// batch 8.1 s of CPU, chunks of 16 0.95 s, with logits identical to the bit. Models without convolutions (linear
/// layers gain from large batches) and other devices run the batch as it is. Each example's logits depend only on that
/// example (eval-mode BatchNorm uses its running statistics), so chunking changes no result beyond GEMM rounding.
/// </summary>
internal static class EvalForward
{
    /// <summary>Examples per chunk for conv models on the CPU: the fastest of 4–64 measured (8 and 16 within 6 %) whose
    /// logits were bit-identical to one batch on ResNet-20.</summary>
    public const int ConvChunk = 16;

    /// <summary>The logits of <paramref name="model"/> on <paramref name="inputs"/> (call inside no_grad, eval mode).</summary>
    public static Tensor Logits(nn.Module<Tensor, Tensor> model, Tensor inputs)
    {
        if (inputs.device_type != DeviceType.CPU || inputs.shape[0] <= ConvChunk || !HasConvolutions(model))
            return model.forward(inputs);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        foreach (var chunk in inputs.split(ConvChunk))
        {
            // Each chunk's layer outputs are freed before the next chunk runs: in one scope they all lived until the
            // end, i.e. the whole batch's activations (measured: ~400 MiB on ResNet-20 at CBS-S's batches of 500).
            using var chunkScope = NewDisposeScope();
            parts.Add(model.forward(chunk).MoveToOuterDisposeScope());
        }
        return cat(parts, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Whether the model has a convolution layer (whose libtorch CPU kernel wants small batches).</summary>
    public static bool HasConvolutions(nn.Module model) => model.modules().Any(m => m is Conv2d or Conv1d);
}
