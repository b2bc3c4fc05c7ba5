using Surgeon.Data;
using Surgeon.Quantization;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Reports;

/// <summary>The accuracy of a model run on crossbars with device variation σ: without noise, and mean ± std over K draws.</summary>
internal sealed record CrossbarAccuracy(double Sigma, double Noiseless, double Mean, double Std, IReadOnlyList<double> Draws);

/// <summary>
/// Device variation on a crossbar-mapped model: every conductance gets multiplicative noise G' = max(0, G·(1 + σ·ε))
/// (<see cref="CrossbarMapping.Perturbed"/>), each Conv2d and Linear weight becomes what its pairs read back, and the
/// model is evaluated; K draws give the mean and the sample standard deviation. Draw k uses a generator seeded with
/// seed + k, layers in module order, so the figures are reproducible. The model's weights are restored afterwards.
/// </summary>
internal static class CrossbarVariation
{
    public static CrossbarAccuracy Evaluate(nn.Module<Tensor, Tensor> model, ImageDataset test, CrossbarOptions options, double sigma, int draws,
        int seed = 0, IReadOnlyList<int>? indices = null)
    {
        options.Validate();
        if (!(sigma >= 0) || double.IsInfinity(sigma))
            throw new SurgeonException($"the device variation σ must be ≥ 0 and finite, got {sigma}");
        if (draws < 1)
            throw new SurgeonException($"device variation needs at least 1 draw, got {draws}");
        var weights = WeightedLayers.Weights(model).Select(p => p.Weight).ToList();
        var originals = weights.Select(w => w.detach().clone()).ToList();
        var mappings = weights.Select(w => new CrossbarMapping(w, options)).ToList();
        try
        {
            Set(weights, mappings.Select((m, i) =>
            {
                var (gPos, gNeg) = m.Conductances();
                return m.ReadBack(gPos, gNeg, weights[i]);
            }).ToList());
            double noiseless = Evaluator.Evaluate(model, test, indices: indices).Accuracy;
            var accuracies = new List<double>();
            for (int k = 0; k < draws; k++)
            {
                using var generator = new Generator((ulong)(seed + k));
                Set(weights, mappings.Select((m, i) =>
                {
                    var (gPos, gNeg) = m.Perturbed(sigma, generator);
                    return m.ReadBack(gPos, gNeg, weights[i]);
                }).ToList());
                accuracies.Add(Evaluator.Evaluate(model, test, indices: indices).Accuracy);
            }
            double mean = accuracies.Average();
            double std = draws == 1 ? 0 : Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / (draws - 1));
            return new CrossbarAccuracy(sigma, noiseless, mean, std, accuracies);
        }
        finally
        {
            Set(weights, originals);
            mappings.ForEach(m => m.Dispose());
        }
    }

    private static void Set(IReadOnlyList<Tensor> weights, IReadOnlyList<Tensor> values)
    {
        using var _ = no_grad();
        for (int i = 0; i < weights.Count; i++)
        {
            weights[i].copy_(values[i]);
            values[i].Dispose();
        }
    }
}
