using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests;

/// <summary>Tiny models and data for fast tests.</summary>
internal static class TestModels
{
    public static MLPNet TinyMlp(int inputs = 12, int classes = 3, double width = 0.2, int seed = 1)
    {
        manual_seed(seed);
        return new MLPNet(inputs, classes, width);
    }

    /// <summary>Sets the prunable weights to the given flat values (module order).</summary>
    public static void SetWeights(nn.Module model, float[] values)
    {
        var ps = PrunableParameters.Discover(model);
        using var flat = tensor(values);
        PrunableParameters.Assign(ps, flat);
    }

    /// <summary>
    /// The pruning context the second-order tests share: MLPNet(6 inputs, 3 classes, width 0.1), 6→4→2→3 = 24 + 8 + 6 = 38
    /// weights, on 300 random 1×2×3 images, seed 1, a Fisher of <paramref name="samples"/> samples.
    /// </summary>
    public static PruningContext TinyFisherContext(int samples, int blockSize = 0, double lambda = 1e-2)
    {
        var model = TinyMlp(inputs: 6, classes: 3, width: 0.1, seed: 5);
        return new PruningContext
        {
            Model = model,
            Parameters = PrunableParameters.Discover(model),
            TrainData = RandomImages(300, 1, 2, 3, 3, seed: 9),
            Seed = 1,
            Options = new PruningOptions { FisherSamples = samples, Lambda = lambda, BlockSize = blockSize },
        };
    }

    /// <summary>A small random image dataset (class-dependent means, so it is learnable).</summary>
    public static ImageDataset RandomImages(int n, int c, int h, int w, int classes, int seed = 3)
    {
        var rng = new Random(seed);
        var labels = new byte[n];
        var pixels = new byte[n * c * h * w];
        for (int i = 0; i < n; i++)
        {
            labels[i] = (byte)(i % classes);
            for (int p = 0; p < c * h * w; p++)
                pixels[i * c * h * w + p] = (byte)Math.Clamp(rng.Next(0, 120) + (p % classes == labels[i] ? 120 : 0), 0, 255);
        }
        return new ImageDataset("random", pixels, labels, c, h, w, classes, 0.3f, 0.3f);
    }
}
