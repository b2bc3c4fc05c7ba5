using Surgeon.Data;
using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Scoring;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Scoring;

/// <summary>A bias-free conv, its BatchNorm, ReLU and a linear head: one filter group of <see cref="Channels"/>.</summary>
internal sealed class TinyConvNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;
    private readonly Linear fc;

    public TinyConvNet(int channels = 4, int size = 5, int classes = 3, int seed = 7) : base(nameof(TinyConvNet))
    {
        manual_seed(seed);
        Channels = channels;
        conv = nn.Conv2d(1, channels, 3, padding: 1, bias: false);
        bn = nn.BatchNorm2d(channels);
        fc = nn.Linear(channels * size * size, classes);
        RegisterComponents();
        // Running statistics and affine parameters away from their defaults, so eval-mode BN is a real affine map.
        using var _ = no_grad();
        bn.running_mean!.copy_(randn(channels).mul(0.3));
        bn.running_var!.copy_(rand(channels).add(0.5));
        bn.weight!.copy_(randn(channels));
        bn.bias!.copy_(randn(channels).mul(0.2));
    }

    public int Channels { get; }

    public FilterGroup Group => new("conv", Channels, ["conv.weight"], ["bn.weight"]);

    public override Tensor forward(Tensor input) =>
        fc.call(nn.functional.relu(bn.call(conv.call(input))).flatten(1));
}

internal static class ScoringFixtures
{
    /// <summary>A pruning context over <paramref name="model"/> whose scores average over <paramref name="data"/>.</summary>
    public static PruningContext Context(nn.Module<Tensor, Tensor> model, ScoringData? data,
        IReadOnlyList<PrunableParameter>? parameters = null) =>
        new() { Model = model, Parameters = parameters ?? PrunableParameters.Discover(model), ScoreData = data };

    /// <summary>Flat per-weight scores of a score on the model's prunable weights (or <paramref name="parameters"/>).</summary>
    public static Tensor Weights(IScore score, nn.Module<Tensor, Tensor> model, ScoringData? data,
        IReadOnlyList<PrunableParameter>? parameters = null) => WeightScores.Compute(score, Context(model, data, parameters));

    /// <summary>Per-filter scores of a score over <paramref name="groups"/>.</summary>
    public static IReadOnlyList<GroupScores> Filters(IScore score, nn.Module<Tensor, Tensor> model,
        IReadOnlyList<FilterGroup> groups, ScoringData? data) => FilterScores.Compute(score, Context(model, data), groups);

    public static MLPNet Mlp64() => TestModels.TinyMlp().to(float64);

    public static TinyConvNet Conv64() => new TinyConvNet().to(float64);

    /// <summary>Random float64 inputs and labels.</summary>
    public static (Tensor X, Tensor Y) Samples(long n, long[] sampleShape, int classes, int seed)
    {
        manual_seed(seed);
        var x = randn([n, .. sampleShape], float64);
        var rng = new Random(seed);
        var y = tensor(Enumerable.Range(0, (int)n).Select(_ => (long)rng.Next(classes)).ToArray());
        return (x, y);
    }

    /// <summary>
    /// Reference ḡ: one forward and backward per sample in eval mode, reading <c>.grad</c>, averaged; logits / T.
    /// Independent of <see cref="LossGradients"/> (no autograd.grad, no batching).
    /// </summary>
    public static Dictionary<string, Tensor> LoopMeanGradient(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y,
        double temperature = 1)
    {
        model.eval();
        var named = model.named_parameters().ToList();
        var sums = named.ToDictionary(p => p.name, p => zeros_like(p.parameter).detach());
        long n = x.shape[0];
        for (long i = 0; i < n; i++)
        {
            model.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x.narrow(0, i, 1)) / temperature, y.narrow(0, i, 1));
            loss.backward();
            foreach (var (name, p) in named)
                if (p.grad is { } g) sums[name].add_(g);
        }
        model.zero_grad();
        foreach (var s in sums.Values) s.div_(n);
        return sums;
    }

    /// <summary>Gradient of the mean loss (one batch, eval mode) with respect to the given parameters, by backward().</summary>
    public static Tensor[] BatchGradient(nn.Module<Tensor, Tensor> model, IReadOnlyList<Parameter> parameters,
        Tensor x, Tensor y, double temperature = 1)
    {
        model.eval();
        model.zero_grad();
        nn.functional.cross_entropy(model.call(x) / temperature, y).backward();
        var result = parameters.Select(p => p.grad is { } g ? g.clone() : zeros_like(p).detach()).ToArray();
        model.zero_grad();
        return result;
    }

    /// <summary>(∇ℓ(θ+εv) − ∇ℓ(θ−εv)) / 2ε over all trainable parameters: a finite-difference Hv.</summary>
    public static Tensor[] FiniteDifferenceHv(nn.Module<Tensor, Tensor> model, IReadOnlyList<Tensor> v, Tensor x, Tensor y,
        double epsilon, double temperature = 1)
    {
        var theta = model.parameters().ToList();
        Shift(theta, v, epsilon);
        var plus = BatchGradient(model, theta, x, y, temperature);
        Shift(theta, v, -2 * epsilon);
        var minus = BatchGradient(model, theta, x, y, temperature);
        Shift(theta, v, epsilon);
        return plus.Zip(minus, (p, m) => p.sub(m).div(2 * epsilon)).ToArray();
    }

    /// <summary>θ ← θ + a·v, parameter by parameter.</summary>
    public static void Shift(IReadOnlyList<Parameter> theta, IReadOnlyList<Tensor> v, double a)
    {
        using var _ = no_grad();
        for (int i = 0; i < theta.Count; i++) theta[i].add_(v[i].mul(a));
    }

    public static void AssertClose(Tensor expected, Tensor actual, double relative, string what = "")
    {
        Assert.Equal(expected.shape, actual.shape);
        double scale = expected.to(float64).norm().item<double>();
        double error = expected.to(float64).sub(actual.to(float64)).norm().item<double>();
        Assert.True(scale > 0, $"{what}: reference is all zeros");
        Assert.True(error <= relative * scale, $"{what}: relative error {error / scale:E3} > {relative:E1}");
    }
}
