namespace Surgeon.Tests.Cli;

/// <summary>train/finetune --recipe end to end: a recipe and the flags that build the same recipe write the same bytes.</summary>
public class RecipeCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cli-recipe-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AGradualMagnitudeRecipe_WritesTheSameWeightsAsTheEquivalentFlags_AndIsStoredInTheSidecar()
    {
        string data = Path.Combine(dir, "data");
        CliCheckpointFixture.WriteIdxFolder(data, side: 6, train: 200, test: 80);
        string recipe = Path.Combine(dir, "gmp.yaml");
        File.WriteAllText(recipe, "modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    initial-sparsity: 0.2\n    final-sparsity: 0.8\n    end-step: 8\n    every-steps: 2\n");
        string[] sgd = ["--epochs", "3", "--lr", "0.05", "--seed", "3", "--quiet"];
        string Out(string name) => Path.Combine(dir, name);
        void Ok(params string[] args)
        {
            var r = CliRunner.Run(dir, args);
            Assert.True(r.ExitCode == 0, string.Join(' ', args) + ": " + r.Stderr);
        }

        // The flags: the seeded initial weights (0 epochs), then gradual magnitude pruning while training.
        Ok(["train", "--data", data, "--epochs", "0", "--seed", "3", "--out", Out("init.ckpt"), "--quiet"]);
        Ok(["finetune", "-c", Out("init.ckpt"), "-m", "mp", "-s", "0.8", "--initial-sparsity", "0.2", "--prune-steps", "8", "--prune-every", "2", .. sgd, "--out", Out("flags.ckpt")]);
        // The recipe, from scratch and as a fine-tuning of the same initial weights.
        Ok(["train", "--data", data, "--recipe", recipe, .. sgd, "--out", Out("train-recipe.ckpt")]);
        Ok(["finetune", "-c", Out("init.ckpt"), "--recipe", recipe, .. sgd, "--out", Out("ft-recipe.ckpt")]);

        byte[] flags = File.ReadAllBytes(Out("flags.ckpt"));
        Assert.Equal(flags, File.ReadAllBytes(Out("train-recipe.ckpt")));
        Assert.Equal(flags, File.ReadAllBytes(Out("ft-recipe.ckpt")));
        string sidecar = File.ReadAllText(Out("train-recipe.ckpt.json"));
        Assert.Contains("gradual-pruning", sidecar);
        Assert.Contains("final-sparsity: 0.8", System.Text.Json.JsonDocument.Parse(sidecar).RootElement.GetProperty("recipe").GetString());
    }

    [Fact]
    public void ABadRecipe_IsOneLineNamingItsLine_BeforeAnyWork()
    {
        string recipe = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(recipe, "modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    final-sparsity: 0.5\n    every: 3\n");
        string output = Path.Combine(dir, "never.ckpt");
        var r = CliRunner.Run(dir, "train", "--recipe", recipe, "--epochs", "1", "--out", output, "--quiet");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: bad.yaml line 5: gradual-pruning has no field 'every' (its fields: method, final-sparsity, initial-sparsity, start-step, end-step, start-epoch, end-epoch, every-steps, prunable, fisher-samples, lambda, block-size, examples-per-sample, update-scale, cbs-epsilon, cbs-relative-epsilon, cbs-rho, cbs-tau, cbs-iterations, cbs-candidates, cbs-loss-samples, cbs-start-scoring, score-samples)", r.Stderr.Trim());
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Methods_ListsEveryStageAlias_AndModifier_WithWhatEachNeeds()
    {
        var r = CliRunner.Run(dir, "methods");
        Assert.True(r.ExitCode == 0, r.Stderr);
        foreach (var name in Surgeon.Pruning.PruningMethods.Scores.Select(s => s.Name)
            .Concat(Surgeon.Pruning.PruningMethods.Rules.Select(s => s.Name))
            .Concat(Surgeon.Pruning.PruningMethods.Aliases.Select(a => a.Alias))
            .Concat(Surgeon.Pruning.Recipe.Kinds.Select(k => k.Name))
            .Concat(["cbs-s", "cbs-u", "obs"]))
            Assert.Contains(name, r.Stdout);
        Assert.Contains("empirical Fisher", r.Stdout);
        Assert.Contains("Hessian-vector", r.Stdout); // the table wraps "products" in a narrow console
        Assert.Contains("filters only", r.Stdout);
    }
}
