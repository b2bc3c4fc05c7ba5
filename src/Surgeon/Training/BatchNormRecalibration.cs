using Surgeon.Data;
using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>
/// Re-estimates every BatchNorm layer's running mean and variance for the current (pruned) weights: forward passes
/// over training samples in train mode, no gradient and no weight change. Pruning shifts each layer's activation
/// statistics, so the running statistics of the dense model no longer normalise the pruned one; on conv nets this
/// alone can recover most of one-shot pruning's loss. The running statistics become the plain average over the
/// batches of each batch's mean and unbiased variance (PyTorch's momentum = None), starting from scratch.
/// </summary>
internal static class BatchNormRecalibration
{
    /// <summary>The model's BatchNorm layers (none for MLPNet).</summary>
    public static IReadOnlyList<SafeBatchNorm2d> Layers(nn.Module model) =>
        model.modules().OfType<SafeBatchNorm2d>().ToList();

    /// <summary>
    /// Recalibrates on <paramref name="samples"/> training samples (a seeded random subset, in batches of
    /// <paramref name="batchSize"/>). Returns the number of BatchNorm layers recalibrated (0: nothing to do).
    /// </summary>
    public static int Run(nn.Module<Tensor, Tensor> model, ImageDataset data, int samples, int seed,
        int batchSize = 100, Device? device = null)
    {
        if (samples <= 0)
            throw new SurgeonException($"BatchNorm recalibration needs a positive number of samples, got {samples}");
        if (samples > data.Count)
            throw new SurgeonException($"BatchNorm recalibration asked for {samples} samples but '{data.Name}' has only {data.Count}; use at most {data.Count}");
        if (batchSize < 2)
            throw new SurgeonException($"BatchNorm recalibration needs batches of at least 2 samples, got {batchSize}");
        var layers = Layers(model);
        if (layers.Count == 0) return 0;
        var indices = data.RandomSubset(samples, seed);
        bool wasTraining = model.training;
        var momenta = layers.Select(l => l.Momentum).ToArray();
        try
        {
            using (no_grad())
            {
                foreach (var layer in layers)
                {
                    layer.running_mean.zero_();
                    layer.running_var.fill_(Numerics.HeldScalars.One);
                    layer.num_batches_tracked.zero_();
                }
            }
            model.train();
            int batches = 0;
            for (int start = 0; start < indices.Length; start += batchSize)
            {
                int count = Math.Min(batchSize, indices.Length - start);
                if (count < 2 && batches > 0) break; // a batch of one has no variance: leave it out
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                foreach (var layer in layers) layer.Momentum = 1.0 / (batches + 1);
                var (x, _) = data.Batch(indices.AsSpan(start, count), device: device);
                // The convolution path training uses (oneDNN off): switching oneDNN on inside a process that trained with
                // it off gave wrong outputs (see Evaluator), and these statistics feed every later evaluation.
                model.forward(x).Dispose();
                batches++;
            }
        }
        finally
        {
            for (int i = 0; i < layers.Count; i++) layers[i].Momentum = momenta[i];
            if (!wasTraining) model.eval();
        }
        return layers.Count;
    }
}
