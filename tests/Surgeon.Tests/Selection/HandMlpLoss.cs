using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Selection;

/// <summary>
/// A small trained bias-free MLPNet and its cross-entropy written out by hand in float64, the independent reference for
/// the CBS-S tests that check real losses: inputs normalised from the raw bytes, each layer a loop of multiply-adds,
/// −log softmax by log-sum-exp.
/// </summary>
internal static class HandMlpLoss
{
    /// <summary>The 36→12→6→4 MLPNet (528 weights) trained 3 epochs on 160 random 6×6 images, and its weights per layer.</summary>
    public static (ImageDataset Data, MLPNet Model, (int Rows, int Cols, double[] Values)[] Layers) TrainedMlp(int dataSeed = 21, int modelSeed = 7)
    {
        var data = TestModels.RandomImages(160, 1, 6, 6, 4, seed: dataSeed);
        manual_seed(modelSeed);
        var model = new MLPNet(36, 4, 0.3); // 36→12→6→4 without biases: 432 + 72 + 24 = 528 weights
        TrainingLoop.Train(new TrainOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Seed = 1 }, model, data, null);
        var layers = model.named_parameters().Select(p => (Rows: (int)p.parameter.shape[0], Cols: (int)p.parameter.shape[1],
            Values: p.parameter.detach().data<float>().ToArray().Select(v => (double)v).ToArray())).ToArray();
        return (data, model, layers);
    }

    /// <summary>The cross-entropy of each sample in <paramref name="indices"/> (in that order) with the pruned weights zeroed.</summary>
    public static double[] PerSample(ImageDataset data, (int Rows, int Cols, double[] Values)[] layers, bool[] pruned, IReadOnlyList<int> indices)
    {
        int features = data.Channels * data.Height * data.Width;
        double mean = data.Means[0], std = data.Stds[0];
        var result = new double[indices.Count];
        for (int s = 0; s < indices.Count; s++)
        {
            int n = indices[s];
            var x = new double[features];
            for (int j = 0; j < features; j++)
                x[j] = (data.Pixels[n * features + j] / 255.0 - mean) / std;
            int offset = 0;
            for (int l = 0; l < layers.Length; l++)
            {
                var (rows, cols, values) = layers[l];
                var y = new double[rows];
                for (int o = 0; o < rows; o++)
                {
                    double sum = 0;
                    for (int i = 0; i < cols; i++)
                        if (!pruned[offset + o * cols + i])
                            sum += values[o * cols + i] * x[i];
                    y[o] = l < layers.Length - 1 ? Math.Max(0, sum) : sum;
                }
                offset += rows * cols;
                x = y;
            }
            double max = x.Max();
            double logSumExp = max + Math.Log(x.Sum(z => Math.Exp(z - max)));
            result[s] = logSumExp - x[data.Labels[n]];
        }
        return result;
    }
}
