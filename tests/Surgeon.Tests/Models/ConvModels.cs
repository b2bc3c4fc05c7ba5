using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

/// <summary>Building and perturbing the conv models in tests.</summary>
internal static class ConvModels
{
    /// <summary>Every model of the registry with filter groups (LeNet-300-100's groups are its hidden neurons).</summary>
    public static readonly string[] Names = ["vgg13", "mobilenet-v1", "resnet20", "resnet56", "lenet5", "lenet300"];

    public static nn.Module<Tensor, Tensor> Create(string name, int[] input, double width, int classes = 10, int seed = 1)
    {
        manual_seed(seed);
        return ModelRegistry.Create(new ModelSpec(name, input, classes, width));
    }

    public static IStructuredModel Structured(nn.Module<Tensor, Tensor> model) =>
        model as IStructuredModel ?? throw new InvalidOperationException($"{model.GetType().Name} is not structured");

    public static long CountParameters(nn.Module model) => model.parameters().Sum(p => p.numel());

    /// <summary>
    /// Non-trivial BatchNorm state: γ in [0.5, 1.5], β and running means around 0, running variances in [0.5, 2],
    /// so a test that passes is not passing because every norm is the identity.
    /// </summary>
    public static void RandomiseNorms(nn.Module model, int seed = 11)
    {
        manual_seed(seed);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (IsNorm(name, "weight")) p.copy_(rand_like(p).add(0.5));
            else if (IsNorm(name, "bias")) p.copy_(randn_like(p).mul(0.1));
        }
        foreach (var (name, b) in model.named_buffers())
        {
            if (name.EndsWith("running_mean")) b.copy_(randn_like(b).mul(0.1));
            else if (name.EndsWith("running_var")) b.copy_(rand_like(b).mul(1.5).add(0.5));
        }
    }

    // BatchNorm parameters are the ones named "...bn*.weight"/"...bn*.bias" in these models.
    private static bool IsNorm(string name, string leaf)
    {
        var parts = name.Split('.');
        return parts.Length >= 2 && parts[^1] == leaf && parts[^2].StartsWith("bn", StringComparison.Ordinal);
    }
}
