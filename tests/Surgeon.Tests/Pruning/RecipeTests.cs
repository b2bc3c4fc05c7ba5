using Surgeon.Modifiers;
using Surgeon.Pruning;

namespace Surgeon.Tests.Pruning;

public class RecipeTests
{
    private static string Repo(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Surgeon.sln"))) return Path.Combine(dir.FullName, relative);
        throw new InvalidOperationException("Surgeon.sln not found");
    }

    [Fact]
    public void TheCommittedRecipes_Parse_AndBuildTheirModifiers()
    {
        var gradual = Recipe.Load(Repo("docs/recipes/gradual-magnitude.yaml"));
        var modifier = Assert.IsType<GradualPruningModifier>(Assert.Single(gradual.CreateModifiers(epochs: 10, batchesPerEpoch: 100)));
        Assert.Equal("mp", modifier.Method.Name);
        Assert.Equal(new PolynomialSparsitySchedule(0.5, 0.9, Steps: 500, Every: 50, Start: 0), modifier.Schedule);

        var early = Recipe.Load(Repo("docs/recipes/grasp-filters-early.yaml"));
        var pwt = Assert.IsType<PruneWhileTrainingModifier>(Assert.Single(early.CreateModifiers(epochs: 10, batchesPerEpoch: 100)));
        Assert.True(pwt.Method.PrunesFilters);
        Assert.Equal(new FilterPruningSchedule(0.75, 1, 1), pwt.Schedule);

        var qat = Recipe.Load(Repo("docs/recipes/qat-4bit.yaml")).CreateModifiers(epochs: 3, batchesPerEpoch: 100);
        var q = Assert.IsType<QuantizationAwareTrainingModifier>(qat[1]);
        Assert.IsType<FixedMaskModifier>(qat[0]);
        Assert.Equal((4, true, 8), (q.Weights.Bits, q.Weights.PerChannel, q.ActivationBits));
        var pruneThenQat = Recipe.Load(Repo("docs/recipes/prune-then-qat.yaml")).CreateModifiers(epochs: 6, batchesPerEpoch: 100);
        Assert.Equal(4, Assert.IsType<QuantizationAwareTrainingModifier>(pruneThenQat[1]).StartEpoch);
    }

    [Fact]
    public void ARecipe_RoundTripsThroughItsYaml()
    {
        var recipe = Recipe.Parse("modifiers:\n  - modifier: gradual-pruning\n    method: wf-s+cbs-u\n    final-sparsity: 0.9\n    end-step: 40\n    lambda: 1e-4\n", "r.yaml");
        var again = Recipe.Parse(recipe.ToYaml(), "again");
        Assert.Equal(recipe.ToYaml(), again.ToYaml());
        var a = (GradualPruningModifier)recipe.CreateModifiers(2, 50)[0];
        var b = (GradualPruningModifier)again.CreateModifiers(2, 50)[0];
        Assert.Equal(a.Schedule, b.Schedule);
        Assert.Equal(a.Options, b.Options);
        Assert.Equal(1e-4, a.Options.Lambda);
        Assert.Equal(new PolynomialSparsitySchedule(0, 0.9, 40, 4, 0), a.Schedule); // every-steps defaults to T/10
    }

    [Theory]
    [InlineData("modifiers:\n  - modifier: gradual\n    method: mp\n", "r.yaml line 2: unknown modifier 'gradual'")]
    [InlineData("modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    final-sparsity: 0.9\n    finall: 3\n", "r.yaml line 5: gradual-pruning has no field 'finall'")]
    [InlineData("modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    final-sparsity: lots\n", "r.yaml line 4: gradual-pruning: final-sparsity: 'lots' is not a number")]
    [InlineData("modifiers:\n  - modifier: gradual-pruning\n    method: snip@nowhere\n    final-sparsity: 0.5\n", "r.yaml line 3: gradual-pruning: method: unknown rule 'nowhere'")]
    [InlineData("modifiers:\n  - modifier: gradual-pruning\n    final-sparsity: 0.5\n", "r.yaml line 2: gradual-pruning needs 'method'")]
    [InlineData("modifiers:\n  - modifier: fixed-mask\n    prunable: some\n", "r.yaml line 3: fixed-mask: prunable: unknown prunable set 'some'")]
    [InlineData("modifiers: [\n", "r.yaml line ")]
    [InlineData("steps:\n  - modifier: fixed-mask\n", "r.yaml line 1: unknown field 'steps'")]
    [InlineData("modifiers:\n  - modifier: prune-while-training\n    method: bn-scale\n    target: 0.5\n", "r.yaml line 3: prune-while-training: method: bn-scale: the score bn-scale is defined per filter only")]
    public void ABadRecipe_IsOneLineNamingTheLine(string yaml, string message)
    {
        var e = Assert.Throws<SurgeonException>(() => Recipe.Parse(yaml, "r.yaml"));
        Assert.StartsWith(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void TwoModifiersThatDecideTheMaskOverOverlappingRanges_AreRefused_NamingBothLines()
    {
        const string yaml = "modifiers:\n" +
            "  - modifier: gradual-pruning\n    method: mp\n    final-sparsity: 0.5\n    start-epoch: 0\n    end-epoch: 2\n" +
            "  - modifier: prune-while-training\n    method: magnitude\n    target: 0.5\n    start-epoch: 2\n";
        var recipe = Recipe.Parse(yaml, "r.yaml");
        var e = Assert.Throws<SurgeonException>(() => recipe.CreateModifiers(epochs: 4, batchesPerEpoch: 10));
        Assert.StartsWith("r.yaml line 7: prune-while-training (epochs 2–2) overlaps gradual-pruning (steps 0–20) of line 2", e.Message);
        // Apart, they are fine: gradual pruning over the first epoch, pruning while training after epoch 3.
        var apart = Recipe.Parse(yaml.Replace("end-epoch: 2", "end-epoch: 1").Replace("start-epoch: 2", "start-epoch: 3"), "r.yaml");
        Assert.Equal(2, apart.CreateModifiers(epochs: 4, batchesPerEpoch: 10).Count);
    }

    [Fact]
    public void AScheduleLongerThanTheRun_FailsAtTheStartOfTheRun()
    {
        var recipe = Recipe.Parse("modifiers:\n  - modifier: prune-while-training\n    method: magnitude\n    target: 0.5\n    start-epoch: 5\n", "r.yaml");
        var e = Assert.Throws<SurgeonException>(() => recipe.CreateModifiers(epochs: 3, batchesPerEpoch: 10));
        Assert.StartsWith("r.yaml line 2: prune-while-training: pruning rounds run after epochs 5..5", e.Message);
    }
    [Fact]
    public void AScheduleInEpochs_IsCheckedAgainstTheRealBatchesPerEpoch_NotBeforeTheDataIsKnown()
    {
        // every-steps 50 over end-epoch 5 fits a run of 20 batches per epoch (100 steps), not one of 2 (10 steps): the
        // check before the data is loaded must not refuse it, the check with the real run must.
        var recipe = Recipe.Parse("modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    final-sparsity: 0.9\n    end-epoch: 5\n    every-steps: 50\n", "r.yaml");
        recipe.CheckBeforeData(epochs: 5);
        var schedule = Assert.IsType<GradualPruningModifier>(Assert.Single(recipe.CreateModifiers(epochs: 5, batchesPerEpoch: 20))).Schedule;
        Assert.Equal((100L, 50L), (schedule.Steps, schedule.Every));
        var e = Assert.Throws<SurgeonException>(() => recipe.CreateModifiers(epochs: 5, batchesPerEpoch: 2));
        Assert.StartsWith("r.yaml line 6: gradual-pruning: every-steps: pruning every 50 optimiser steps does not fit the schedule's 10 steps", e.Message);
        // A bad field still fails before the data is loaded.
        var bad = Recipe.Parse("modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    final-sparsity: 1.5\n", "r.yaml");
        Assert.Throws<SurgeonException>(() => bad.CheckBeforeData(epochs: 5));
    }
}
