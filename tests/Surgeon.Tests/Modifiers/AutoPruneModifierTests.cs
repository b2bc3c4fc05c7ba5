using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Modifiers;
using Surgeon.Numerics;
using Surgeon.Pruning;
using Surgeon.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

public class AutoPruneModifierTests
{
    /// <summary>A single linear layer (softmax regression): its loss gradient has a closed form to check against.</summary>
    private sealed class OneLinear : nn.Module<Tensor, Tensor>
    {
        private readonly Linear fc;

        public OneLinear(int inputs, int classes) : base(nameof(OneLinear))
        {
            fc = nn.Linear(inputs, classes);
            RegisterComponents();
        }

        public Linear Fc => fc;

        public override Tensor forward(Tensor input) => fc.call(input.flatten(1));
    }

    /// <summary>Runs delegates at the loop's hooks (to set or read state between the modifier's hooks).</summary>
    private sealed class Hooks : TrainingModifier
    {
        public Action<TrainingLoop>? OnRunStart { get; init; }
        public Action<TrainingLoop>? OnAfterStep { get; init; }
        public override string Name => "test-hooks";
        public override void RunStart(TrainingLoop loop) => OnRunStart?.Invoke(loop);
        public override void AfterStep(TrainingLoop loop) => OnAfterStep?.Invoke(loop);
    }

    public static TheoryData<string, string, string> Variants()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var ste in new[] { "sign", "weight" })
            foreach (var surrogate in new[] { "identity", "leaky" })
                foreach (var regularizer in new[] { "mask", "l1", "l2" })
                    data.Add(ste, surrogate, regularizer);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void OneStep_MovesEachAuxiliaryByTheHandFormula_AndTheWeightsByGTimesTheMask(string ste, string surrogate, string regularizer)
    {
        const int n = 8, d = 4, classes = 3;
        const double lambda = 0.05, leak = 0.25, lr = 0.1;
        var data = TestModels.RandomImages(n, 1, 2, 2, classes, seed: 5);
        manual_seed(7);
        var model = new OneLinear(d, classes);
        float[] w0 = model.Fc.weight!.data<float>().ToArray(), b0 = model.Fc.bias!.data<float>().ToArray();
        // Some auxiliaries ≤ 0 (pruned: the forward pass uses 0 there, and the leaky surrogate gives them α), one exactly 0.
        float[] m0 = [0.3f, -0.2f, 0.1f, -0.4f, 0.25f, 0f, -0.05f, 0.6f, -0.3f, 0.15f, 0.2f, -0.1f];
        var options = new AutoPruneOptions
        {
            Lambda = lambda,
            Ste = AutoPruneOptions.ParseSte(ste),
            Surrogate = AutoPruneOptions.ParseSurrogate(surrogate),
            Regularizer = AutoPruneOptions.ParseRegularizer(regularizer),
            Leak = leak,
            LearningRate = 1,
        };
        var autoprune = new AutoPruneModifier(options, 0, 2);
        float[]? m1 = null, w1 = null;
        var read = new Hooks
        {
            OnAfterStep = loop =>
            {
                if (loop.Steps != 1) return;
                m1 = autoprune.Auxiliary("fc.weight").data<float>().ToArray();
            },
        };
        var set = new Hooks { OnRunStart = _ => autoprune.SetAuxiliary("fc.weight", tensor(m0).view(classes, d)) };
        var after = new Hooks { OnAfterStep = loop => { if (loop.Steps == 1) w1 = model.Fc.weight!.data<float>().ToArray(); } };
        var train = new TrainOptions { Epochs = 2, BatchSize = n, LearningRate = lr, Momentum = 0, WeightDecay = 0, Schedule = LrSchedule.Constant, Seed = 1 };
        using (var loop = new TrainingLoop(train, model, data) { Modifiers = [read, autoprune, set, after] })
            loop.Run();

        // The closed form of softmax regression: G = (1/N) Σ_n (softmax(z_n) − onehot(y_n)) x_nᵀ, z = (w·h(m)) x + b.
        var (xs, ys) = data.Batch(Enumerable.Range(0, n).ToArray());
        float[] x = xs.data<float>().ToArray();
        long[] y = ys.data<long>().ToArray();
        var g = new double[classes * d];
        for (int s = 0; s < n; s++)
        {
            var z = new double[classes];
            for (int c = 0; c < classes; c++)
            {
                z[c] = b0[c];
                for (int j = 0; j < d; j++) z[c] += (m0[c * d + j] > 0 ? w0[c * d + j] : 0) * x[s * d + j];
            }
            double max = z.Max(), sum = z.Sum(v => Math.Exp(v - max));
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(z[c] - max) / sum - (y[s] == c ? 1 : 0);
                for (int j = 0; j < d; j++) g[c * d + j] += p * x[s * d + j] / n;
            }
        }
        Assert.NotNull(m1);
        Assert.NotNull(w1);
        for (int i = 0; i < classes * d; i++)
        {
            double m = m0[i], w = w0[i];
            double factor = ste == "sign" ? Math.Sign(w) : w;
            double hPrime = surrogate == "identity" || m > 0 ? 1 : leak;
            double reg = regularizer switch { "mask" => hPrime, "l1" => Math.Sign(m), _ => m };
            double expected = g[i] * factor * hPrime + lambda * reg;
            Assert.True(Math.Abs(m0[i] - m1![i] - expected) < 2e-6, $"entry {i}: Δm {m0[i] - m1[i]}, hand formula {expected}");
            // The weights step on G·h(m): a pruned weight gets no loss gradient. Where its new mask is 0 the layer holds 0.
            double dense = w - lr * g[i] * (m > 0 ? 1 : 0);
            double held = m1[i] > 0 ? dense : 0;
            Assert.True(Math.Abs(w1![i] - held) < 2e-6, $"weight {i}: {w1[i]}, expected {held}");
        }
    }

    [Fact]
    public void LambdaZero_WithNothingPruned_TrainsBitForBitAsWithoutTheModifier()
    {
        var data = TestModels.RandomImages(48, 1, 4, 4, 3, seed: 21);
        var train = new TrainOptions { Epochs = 3, BatchSize = 8, LearningRate = 0.1, Momentum = 0.9, WeightDecay = 1e-2, Seed = 4 };
        var plain = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 9);
        TrainingLoop.Train(train, plain, data);
        var withAux = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 9);
        var autoprune = new AutoPruneModifier(new AutoPruneOptions { Lambda = 0, LearningRate = 1e-3, Init = 1 });
        using (var loop = new TrainingLoop(train, withAux, data) { Modifiers = [autoprune] })
            loop.Run();
        Assert.Equal(3, autoprune.History.Count);
        Assert.All(autoprune.History, h => Assert.Equal(0, h.Pruned));
        var a = plain.named_parameters().ToList();
        var b = withAux.named_parameters().ToList();
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
            Assert.True(a[i].parameter.eq(b[i].parameter).all().item<bool>(), $"{a[i].name} differs"); // exact equality, not a tolerance
    }

    [Fact]
    public void Sparsity_GrowsWithLambda()
    {
        var data = TestModels.RandomImages(96, 1, 4, 4, 3, seed: 22);
        var train = new TrainOptions { Epochs = 3, BatchSize = 16, LearningRate = 0.05, Momentum = 0.9, Seed = 5 };
        var sparsities = new List<double>();
        foreach (double lambda in new[] { 1e-3, 5e-3, 2e-2 })
        {
            var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 10);
            var autoprune = new AutoPruneModifier(new AutoPruneOptions { Lambda = lambda, LearningRate = 1, Init = 0.05 });
            using var loop = new TrainingLoop(train, model, data) { Modifiers = [autoprune] };
            loop.Run();
            sparsities.Add(loop.Mask!.Sparsity);
            // Frozen: an ordinary pruned model, its pruned weights exact zeros.
            using var flat = PrunableParameters.Flatten(loop.Mask.Parameters);
            Assert.Equal(0, flat.masked_select(loop.Mask.Keep.logical_not()).abs().sum().item<float>());
            Assert.Equal(loop.Mask.Sparsity, autoprune.History[^1].Sparsity, 12);
        }
        Assert.True(sparsities[0] < sparsities[1] && sparsities[1] < sparsities[2], $"sparsities {string.Join(", ", sparsities)}");
        Assert.True(sparsities[0] > 0, "even the smallest λ should prune something here");
    }

    [Fact]
    public void APrunedWeight_WhoseAuxiliaryTurnsPositive_ComesBackWithItsTrainedValue()
    {
        var data = TestModels.RandomImages(32, 1, 2, 2, 3, seed: 23);
        manual_seed(8);
        var model = new OneLinear(4, 3);
        // λ = 0 and a tiny auxiliary rate: the masks move only when set by hand.
        var autoprune = new AutoPruneModifier(new AutoPruneOptions { Lambda = 0, LearningRate = 1e-9, Init = 1 }, 0, 12);
        float trainedValue = float.NaN;
        var during = new List<float>();
        float back = float.NaN;
        var hand = new Hooks
        {
            OnAfterStep = loop =>
            {
                var w = model.Fc.weight!;
                if (loop.Steps == 4)
                {
                    trainedValue = w[1, 2].item<float>(); // trained for 4 steps
                    using var m = autoprune.Auxiliary("fc.weight");
                    m[1, 2] = tensor(-1f);
                    autoprune.SetAuxiliary("fc.weight", m);
                }
                else if (loop.Steps > 4 && loop.Steps < 9)
                    during.Add(w[1, 2].item<float>());
                else if (loop.Steps == 9)
                {
                    using var m = autoprune.Auxiliary("fc.weight");
                    Assert.True(m[1, 2].item<float>() < 0, "the auxiliary should still be negative");
                    m[1, 2] = tensor(0.5f);
                    autoprune.SetAuxiliary("fc.weight", m);
                    back = w[1, 2].item<float>();
                }
            },
        };
        // No momentum or weight decay: a pruned weight gets no gradient (G·h(m) = 0), so its dense value stays put.
        var train = new TrainOptions { Epochs = 3, BatchSize = 8, LearningRate = 0.2, Momentum = 0, WeightDecay = 0, Schedule = LrSchedule.Constant, Seed = 2 };
        using (var loop = new TrainingLoop(train, model, data) { Modifiers = [autoprune, hand] })
            loop.Run();
        Assert.False(float.IsNaN(trainedValue));
        Assert.NotEqual(0f, trainedValue);
        Assert.Equal(4, during.Count);
        Assert.All(during, v => Assert.Equal(0f, v)); // pruned: the layer computes with 0
        Assert.Equal(trainedValue, back); // restored exactly
        Assert.Contains(autoprune.History, h => h.Pruned == 1);
    }

    [Fact]
    public void PerFilter_FreezingRemovesThePrunedNeurons_AndTheLogCountsThem()
    {
        var data = TestModels.RandomImages(64, 1, 8, 8, 3, seed: 24);
        manual_seed(11);
        var spec = new Surgeon.Models.ModelSpec("lenet300", [1, 8, 8], 3, 0.1);
        var model = Surgeon.Models.ModelRegistry.Create(spec, CPU);
        var autoprune = new AutoPruneModifier(new AutoPruneOptions { PerFilter = true, Lambda = 0.02, LearningRate = 1, Init = 0.05 });
        var train = new TrainOptions { Epochs = 2, BatchSize = 16, LearningRate = 0.05, Seed = 3 };
        using var loop = new TrainingLoop(train, model, data) { Modifiers = [autoprune] };
        loop.Run();
        var groups = ((Surgeon.Models.IStructuredModel)loop.Model).FilterGroups;
        var last = autoprune.History[^1];
        Assert.True(last.Pruned > 0, "λ = 0.02 should prune some neurons");
        foreach (var layer in last.Layers)
            Assert.Equal(Math.Max(1, layer.Units - layer.Pruned), groups.Single(g => g.Name == layer.Name).Channels);
        Assert.NotSame(model, loop.Model);
        Assert.True(autoprune.Frozen);
    }

    [Theory]
    [InlineData("lambda: -1", "line 4: autoprune: lambda:")]
    [InlineData("lambda: 0.1\n    ste: magnitude", "line 5: autoprune: ste:")]
    [InlineData("lambda: 0.1\n    aux-lr: 0", "line 5: autoprune: aux-lr:")]
    [InlineData("lambda: 0.1\n    surrogate: sigmoid", "line 5: autoprune: surrogate:")]
    [InlineData("lambda: 0.1\n    structure: blocks", "line 5: autoprune: structure:")]
    [InlineData("lambda: 0.1\n    aux-init: 0", "line 5: autoprune: aux-init:")]
    public void BadRecipeValues_AreOneLineErrorsNamingTheField(string fields, string expected)
    {
        string yaml = $"# autoprune\nmodifiers:\n  - modifier: autoprune\n    {fields}\n";
        var e = Assert.Throws<SurgeonException>(() => Recipe.Parse(yaml, "r.yaml"));
        Assert.StartsWith("r.yaml " + expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ARecipe_BuildsTheModifierWithItsFieldsAndRange()
    {
        var recipe = Recipe.Parse("modifiers:\n  - modifier: autoprune\n    lambda: 0.002\n    ste: weight\n    surrogate: identity\n    regularizer: l1\n    aux-lr: 0.5\n    start-epoch: 1\n    end-epoch: 3\n", "r.yaml");
        var m = Assert.IsType<AutoPruneModifier>(Assert.Single(recipe.CreateModifiers(epochs: 4, batchesPerEpoch: 10)));
        Assert.Equal(10, m.StartStep);
        Assert.Equal(30, m.EndStep);
        Assert.Equal(new AutoPruneOptions { Lambda = 0.002, Ste = AutoPruneSte.Weight, Surrogate = AutoPruneSurrogate.Identity, Regularizer = AutoPruneRegularizer.L1, LearningRate = 0.5 }, m.Options);
        var late = Assert.Throws<SurgeonException>(() => Recipe.Parse("modifiers:\n  - modifier: autoprune\n    lambda: 0.1\n    end-epoch: 9\n", "r.yaml").CreateModifiers(4, 10));
        Assert.StartsWith("r.yaml line 4: autoprune: end-epoch:", late.Message);
    }
}
