using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Quantization;

/// <summary>Accumulates the values one activation takes over the calibration batches, then gives its grid.</summary>
internal interface IActivationObserver
{
    /// <summary>Adds a batch of values (any shape; every element counts).</summary>
    void Observe(Tensor values);

    /// <summary>The per-tensor grid for what was observed.</summary>
    TensorQuantization Grid(int bits, bool symmetric);
}
