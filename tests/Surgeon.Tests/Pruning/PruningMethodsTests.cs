using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Tests.Scoring;
using static TorchSharp.torch;

namespace Surgeon.Tests.Pruning;

/// <summary>The one grammar: aliases spell out to score@rule+update, bad combinations are one-line errors, and
/// composed methods prune what an independent computation says they should.</summary>
public class PruningMethodsTests
{
    [Theory]
    [InlineData("mp", "magnitude@global")]
    [InlineData("lmp", "magnitude@layer")]
    [InlineData("wf-s", "woodfisher@global")]
    [InlineData("wf", "woodfisher@global+obs")]
    [InlineData("cbs-s", "cbs-s")]
    [InlineData("cbs", "cbs-s+cbs-u")]
    [InlineData("mp+cbs-u", "magnitude@global+cbs-u")]
    [InlineData("wf-s+cbs-u", "woodfisher@global+cbs-u")]
    [InlineData(" SNIP ", "snip@global")]
    [InlineData("grasp@layer", "grasp@layer")]
    [InlineData("magnitude@filter", "magnitude@filter")]
    [InlineData("taylor+none", "taylor@global")]
    public void Names_SpellOutToTheirStages(string name, string canonical)
    {
        var method = PruningMethods.Get(name);
        Assert.Equal(canonical, method.Canonical);
        Assert.Equal(name.Trim().ToLowerInvariant(), method.Name);
    }

    [Theory]
    [InlineData("bn-scale", "bn-scale: the score bn-scale is defined per filter only")]
    [InlineData("magnitude@filter+obs", "magnitude@filter+obs: the update obs changes kept weights, but @filter removes whole filters")]
    [InlineData("cbs-s@layer", "method 'cbs-s@layer': cbs-s is a joint selection")]
    [InlineData("wf+cbs-u", "method 'wf+cbs-u': wf already includes an update")]
    [InlineData("mp+obs+cbs-u", "method 'mp+obs+cbs-u' has two updates")]
    [InlineData("magnitude@everywhere", "unknown rule 'everywhere'")]
    [InlineData("obs", "method 'obs': obs is an update")]
    [InlineData("hessian-trace", "unknown pruning method 'hessian-trace'")]
    public void BadCombinations_AreOneLineErrors(string name, string message)
    {
        var e = Assert.Throws<SurgeonException>(() => PruningMethods.Get(name));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void AFilterRuleOnAModelWithoutFilters_AndAFisherWithoutData_FailTheCheckBeforeAnyWork()
    {
        var mlp = TestModels.TinyMlp();
        var context = new PruningContext { Model = mlp, Parameters = PrunableParameters.Discover(mlp) };
        Assert.Contains("@filter removes filters", Assert.Throws<SurgeonException>(() => PruningMethods.Get("magnitude@filter").Check(context)).Message);
        Assert.Contains("needs training data", Assert.Throws<SurgeonException>(() => PruningMethods.Get("mp+cbs-u").Check(context)).Message);
        Assert.Contains("needs training data", Assert.Throws<SurgeonException>(() => PruningMethods.Get("snip").Check(context)).Message);
        PruningMethods.Get("lmp").Check(context);
    }

    /// <summary>snip@layer prunes ⌊s·d⌋ weights in all, ⌊s·d_l⌋ of each layer plus one for the layers with the largest
    /// remainders s·d_l − ⌊s·d_l⌋ (here 96, 32, 12 weights: 57.6, 19.2, 7.2, so fc1 prunes 58, fc2 19, fc3 7), the lowest
    /// |θ·g| of each layer, g from a loop over the samples.</summary>
    [Fact]
    public void SnipPerLayer_PrunesTheLowestConnectionSensitivityOfEachLayer()
    {
        var model = ScoringFixtures.Mlp64();
        var (x, y) = ScoringFixtures.Samples(20, [1, 12, 1], 3, seed: 4);
        x = x.reshape(20, 1, 12, 1);
        var gradients = ScoringFixtures.LoopMeanGradient(model, x, y);
        var parameters = PrunableParameters.Discover(model);
        var expected = new List<bool>();
        long[] counts = [.. parameters.Select(p => (long)Math.Floor(0.6 * p.Count))];
        long leftOver = (long)Math.Floor(0.6 * parameters.Sum(p => p.Count) + 1e-9) - counts.Sum();
        foreach (int l in Enumerable.Range(0, counts.Length).OrderByDescending(l => 0.6 * parameters[l].Count - counts[l]).Take((int)leftOver))
            counts[l]++;
        Assert.Equal([58L, 19L, 7L], counts);
        foreach (var (p, k) in parameters.Zip(counts))
        {
            var s = p.Weight.detach().mul(gradients[p.Name]).abs().flatten().data<double>().ToArray();
            var pruned = s.Select((v, i) => (v, i)).OrderBy(t => t.v).ThenBy(t => t.i).Take((int)k).Select(t => t.i).ToHashSet();
            expected.AddRange(Enumerable.Range(0, s.Length).Select(i => !pruned.Contains(i)));
        }
        var context = ScoringFixtures.Context(model, ScoringData.FromTensors(x, y, batchSize: 20), parameters);
        using var result = PruningMethods.Get("snip@layer").Prune(context, 0.6);
        Assert.Equal(expected.ToArray(), result.Mask!.Keep.data<bool>().ToArray());
        using var flat = PrunableParameters.Flatten(parameters);
        Assert.True(flat.masked_select(result.Mask.Keep.logical_not()).eq(0).all().item<bool>());
    }

    /// <summary>magnitude@filter removes ⌊s·F⌋ filters, every removed one of lower ‖θ_f‖₂ than every kept one (the 5 %
    /// minimum does not bind at this sparsity), and returns a smaller model that runs.</summary>
    [Fact]
    public void MagnitudePerFilter_RemovesTheFiltersOfSmallestNorm_AndShrinksTheModel()
    {
        manual_seed(9);
        var model = ModelRegistry.Create(new ModelSpec("vgg13", [1, 8, 8], 3, 0.125));
        var groups = ((IStructuredModel)model).FilterGroups;
        var weights = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var norms = groups.SelectMany(g => Enumerable.Range(0, g.Channels).Select(c => (Group: g.Name, Channel: (long)c,
            Norm: Math.Sqrt(g.Producers.Sum(n => weights[n][c].detach().to_type(ScalarType.Float64).pow(2).sum().item<double>()))))).ToList();
        long filters = norms.Count, removed = (long)Math.Floor(0.4 * filters);
        var context = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model) };
        using var result = PruningMethods.Get("magnitude@filter").Prune(context, 0.4);
        var smaller = (IStructuredModel)result.Model;
        Assert.NotSame(model, result.Model);
        Assert.Equal(filters - removed, smaller.FilterGroups.Sum(g => (long)g.Channels));
        Assert.Equal((double)removed / filters, result.Sparsity, 12);
        var cut = norms.OrderBy(n => n.Norm).ToList();
        double lastRemoved = cut[(int)removed - 1].Norm, firstKept = cut[(int)removed].Norm;
        Assert.True(lastRemoved <= firstKept);
        foreach (var g in groups)
            Assert.Equal(norms.Count(n => n.Group == g.Name && n.Norm > lastRemoved), smaller.FilterGroups.Single(s => s.Name == g.Name).Channels);
        using var logits = result.Model.call(randn(2, 1, 8, 8));
        Assert.Equal([2L, 3L], logits.shape);
    }
}
