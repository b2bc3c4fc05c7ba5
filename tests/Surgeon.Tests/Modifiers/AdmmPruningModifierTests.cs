using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Modifiers;
using Surgeon.Pruning;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Modifiers;

public class AdmmPruningModifierTests
{
    private static (AdmmPruningModifier Admm, TrainingLoop Loop) Run(nn.Module<Tensor, Tensor> model, ImageDataset data, string recipeYaml, int epochs, double momentum = 0.9)
    {
        var options = new TrainOptions { Epochs = epochs, BatchSize = 16, LearningRate = 0.05, Momentum = momentum, Seed = 5 };
        var loop = new TrainingLoop(options, model, data) { Modifiers = Recipe.Parse(recipeYaml, "r.yaml").CreateModifiers(epochs, (data.Count + 15) / 16) };
        loop.Run();
        return ((AdmmPruningModifier)loop.Modifiers[0], loop);
    }

    private static string Recipe1(string fields) => "modifiers:\n  - modifier: admm\n    prunable: all\n" + string.Join("", fields.Split(';').Select(f => $"    {f.Trim()}\n"));

    /// <summary>Indices of the k largest values, ties to the lower index, by sorting (the brute-force top-k).</summary>
    private static HashSet<int> TopK(double[] values, long k) =>
        values.Select((v, i) => (v, i)).OrderByDescending(t => t.v).ThenBy(t => t.i).Take((int)k).Select(t => t.i).ToHashSet();

    private static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).cpu().flatten().data<double>().ToArray();

    [Fact]
    public void TheResidual_WMinusZ_FallsOverTheRounds_OnATinyNet()
    {
        var data = TestModels.RandomImages(128, 1, 4, 4, 3, seed: 21);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 7);
        var (admm, loop) = Run(model, data, Recipe1("projection: unstructured; keep-ratio: 0.2; rho: 1; rho-growth: 1.3; rounds: 8; interval-epochs: 2"), 17, momentum: 0);
        using var _ = loop;
        Assert.Equal(8, admm.History.Count);
        var r = admm.History.Select(h => h.Residual).ToList();
        // Not monotone round to round (SGD noise, and the support of Z may still switch), but every late round is below
        // every early one, and the last is a small fraction of the first.
        string all = string.Join(", ", r.Select(x => x.ToString("G3")));
        Assert.True(r[^1] < 0.1 * r[0], $"‖W − Z‖ should fall: {all}");
        Assert.True(r.Skip(4).Max() < r.Take(4).Min(), $"the last four rounds should all be below the first four: {all}");
        Assert.Equal(Math.Pow(1.3, 7), admm.History[^1].Rho, 12);
    }

    [Fact]
    public void AfterTheHardPrune_TheMaskIsTheProjectionsSupport_AndPrunedWeightsStayZeroThroughRetraining()
    {
        var data = TestModels.RandomImages(64, 1, 4, 4, 3, seed: 22);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 8);
        var (admm, loop) = Run(model, data, Recipe1("projection: unstructured; keep-ratio: 0.3; layer-keep-ratios: fc3=0.5; rho: 0.01; rounds: 3; interval-steps: 4"), 4);
        using var _ = loop;
        Assert.True(admm.HardPruned);
        var parameters = PrunableParameters.Discover(loop.Model);
        for (int i = 0; i < parameters.Count; i++)
        {
            var (z, u) = admm.State(i, 0);
            // The last Z-step projected W + U_{R−1} = Z_R + U_R (U_R = U_{R−1} + W − Z_R): its top-k by magnitude is the mask.
            var v = Values(z.add(u, Surgeon.Numerics.HeldScalars.One)).Select(Math.Abs).ToArray();
            double ratio = parameters[i].Name == "fc3.weight" ? 0.5 : 0.3;
            long k = v.Length - (long)Math.Floor((1 - ratio) * v.Length + 1e-9);
            var expected = TopK(v, k);
            var mask = loop.Mask!.LayerMask(i).flatten().data<bool>().ToArray();
            for (int e = 0; e < v.Length; e++) Assert.Equal(expected.Contains(e), mask[e]);
            var w = Values(parameters[i].Weight);
            for (int e = 0; e < v.Length; e++)
                if (!mask[e]) Assert.Equal(0.0, w[e]);
        }
    }

    [Fact]
    public void FiltersPlusColumns_KeepsTheRowsAndColumnsOfLargestNorm_OfZPlusU_AndTheirIntersection()
    {
        var data = TestModels.RandomImages(48, 1, 4, 4, 3, seed: 23);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 9);
        var (admm, loop) = Run(model, data, Recipe1("projection: filters+columns; keep-ratio: 0.5; layer-projections: fc3=columns; rho: 0.01; rounds: 2; interval-epochs: 1"), 3);
        using var _ = loop;
        var parameters = PrunableParameters.Discover(loop.Model);
        for (int i = 0; i < parameters.Count; i++)
        {
            long rows = parameters[i].Shape[0], cols = parameters[i].Shape[1];
            var expected = new bool[rows * cols];
            Array.Fill(expected, true);
            int constraints = parameters[i].Name == "fc3.weight" ? 1 : 2;
            for (int j = 0; j < constraints; j++)
            {
                var (z, u) = admm.State(i, j);
                var s = Values(z.add(u, Surgeon.Numerics.HeldScalars.One));
                bool byRow = constraints == 2 && j == 0;
                long groups = byRow ? rows : cols;
                var norms = new double[groups];
                for (long r = 0; r < rows; r++)
                    for (long c = 0; c < cols; c++)
                        norms[byRow ? r : c] += s[r * cols + c] * s[r * cols + c];
                var kept = TopK(norms, groups - (long)Math.Floor(0.5 * groups + 1e-9));
                for (long r = 0; r < rows; r++)
                    for (long c = 0; c < cols; c++)
                        if (!kept.Contains((int)(byRow ? r : c))) expected[r * cols + c] = false;
            }
            Assert.Equal(expected, loop.Mask!.LayerMask(i).flatten().data<bool>().ToArray());
        }
    }

    [Theory]
    [InlineData("projection: unstructured; keep-ratio: 0.5; rho: 0", "r.yaml line 5: admm: rho: ADMM's penalty ρ must be positive, got 0")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; rho: -1", "r.yaml line 5: admm: rho: ADMM's penalty ρ must be positive")]
    [InlineData("projection: unstructured; keep-ratio: 1.5", "r.yaml line 4: admm: keep-ratio: a keep ratio must be in (0, 1], got 1.5")]
    [InlineData("projection: unstructured; keep-ratio: 0", "r.yaml line 4: admm: keep-ratio: a keep ratio must be in (0, 1], got 0")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; layer-keep-ratios: fc1=1.01", "r.yaml line 5: admm: layer-keep-ratios: fc1: a keep ratio must be in (0, 1]")]
    [InlineData("projection: rows; keep-ratio: 0.5", "r.yaml line 3: admm: projection: unknown projection 'rows'")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; rho-growth: 0.5", "r.yaml line 5: admm: rho-growth: ADMM's ρ growth factor must be ≥ 1")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; rounds: 0", "r.yaml line 5: admm: rounds: ADMM needs at least 1 round")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; purify: 2", "r.yaml line 5: admm: purify: the purification threshold τ must be in (0, 1]")]
    [InlineData("projection: unstructured", "r.yaml line 2: admm needs 'keep-ratio'")]
    public void ABadAdmmRecipe_IsOneLineBeforeAnyData(string fields, string message)
    {
        var yaml = "modifiers:\n  - modifier: admm\n" + string.Join("", fields.Split(';').Select(f => $"    {f.Trim()}\n"));
        var e = Assert.Throws<SurgeonException>(() => Recipe.Parse(yaml, "r.yaml"));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("projection: channels; keep-ratio: 0.5; rounds: 1", "fc1.weight: a channel-wise projection needs a conv weight")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; layer-projections: fc2=filters+channels; rounds: 1", "fc2.weight: a channel-wise projection needs a conv weight")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; layer-keep-ratios: conv9=0.5; rounds: 1", "ADMM: no prunable layer 'conv9'")]
    [InlineData("projection: unstructured; keep-ratio: 0.5; rounds: 5", "ADMM's 5 rounds of 1 epochs from epoch 1 end at step 10, but training has only 4")]
    public void AProjectionThatDoesNotFitTheLayer_IsOneLineBeforeTheFirstStep(string fields, string message)
    {
        var data = TestModels.RandomImages(32, 1, 4, 4, 3, seed: 24);
        var model = TestModels.TinyMlp(inputs: 16, width: 0.5, seed: 10);
        using var before = PrunableParameters.Flatten(PrunableParameters.Discover(model));
        var e = Assert.Throws<SurgeonException>(() => Run(model, data, Recipe1(fields), 2));
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        using var after = PrunableParameters.Flatten(PrunableParameters.Discover(model));
        Assert.True(before.eq(after).all().item<bool>(), "nothing should have trained");
    }

    private static string Repo(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Surgeon.sln"))) return Path.Combine(dir.FullName, relative);
        throw new InvalidOperationException("Surgeon.sln not found");
    }

    [Theory]
    [InlineData("docs/recipes/admm-lenet5-unstructured.yaml", false, "1111")]
    [InlineData("docs/recipes/admm-lenet5-filters-columns-prm.yaml", true, "2221")]
    [InlineData("docs/recipes/admm-lenet5-unstructured-small.yaml", false, "1111")]
    [InlineData("docs/recipes/admm-lenet5-filters-columns-small.yaml", false, "2221")]
    [InlineData("docs/recipes/admm-lenet5-filters-columns-prm-small.yaml", true, "2221")]
    public void TheCommittedAdmmRecipes_Parse_AndFitLeNet5(string path, bool prm, string constraintsPerLayer)
    {
        var recipe = Recipe.Load(Repo(path));
        var admm = Assert.IsType<AdmmPruningModifier>(Assert.Single(recipe.CreateModifiers(epochs: 8, batchesPerEpoch: 10)));
        Assert.Equal(prm, admm.RemoveUnusedPaths);
        Assert.Equal(prm, admm.PurifyThreshold is not null);
        var model = Surgeon.Models.ModelRegistry.Create(new Surgeon.Models.ModelSpec("lenet5", [1, 28, 28], 10, 1.0), CPU);
        var constraints = admm.Plan.For(PrunableParameters.Discover(model));
        Assert.Equal(4, constraints.Count);
        Assert.Equal(constraintsPerLayer, string.Concat(constraints.Select(c => c.Count)));
    }

    [Fact]
    public void TheCommittedAdmmQuantRecipe_Parses()
    {
        var recipe = Recipe.Load(Repo("docs/recipes/admm-quant-8bit-small.yaml"));
        var q = Assert.IsType<AdmmQuantizationModifier>(Assert.Single(recipe.CreateModifiers(epochs: 3, batchesPerEpoch: 10)));
        Assert.Equal(8, q.Settings.Bits);
        Assert.Equal(new AdmmSchedule(0.5, 2, 2, 1, InSteps: false), q.Schedule);
    }
}
