using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Cli;

/// <summary>surgeon factorize end to end: the written checkpoint's weights have the asked rank and its sidecar says so;
/// eval reads it; bad input is one line, exit 2, nothing written.</summary>
[Collection(CliCheckpointCollection.Name)]
public class FactorizeCliTests(CliCheckpointFixture fixture)
{
    [Fact]
    public void Factorize_WritesRankRWeights_EvalReadsThem()
    {
        string work = fixture.NewWorkFolder(), f = Path.Combine(work, "f.ckpt");
        var r = CliRunner.Run(work, "factorize", "-c", fixture.Checkpoint, "--rank", "4", "--out", f);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("Conv2d/Linear weights 32,360 → 3,656", r.Stdout); // 4·(40+784) + 4·(20+40) + 4·(10+20)
        var (model, info) = Checkpoint.Load(f);
        using (model)
        {
            Assert.Equal(3, info.Compression!.Tensors.Count(t => t.Value.Factorized is { Rank: 4 }));
            foreach (var (name, p) in model.named_parameters())
            {
                // Rank ≤ 4: the fifth eigenvalue of WWᵀ (the smaller Gram matrix) is float32 round-off next to the first.
                var w = p.detach().to(float64);
                var gram = w.matmul(w.T);
                var values = linalg.eigvalsh(gram).data<double>().ToArray().Reverse().ToArray();
                Assert.True(values[4] < 1e-9 * values[0], $"{name}: λ₅ = {values[4]}, λ₁ = {values[0]}");
            }
        }
        var e = CliRunner.Run(work, "eval", "-c", f);
        Assert.True(e.ExitCode == 0, e.Stderr);
        Assert.Contains($"accuracy {info.TestAccuracy!.Value:P2}", e.Stdout);
        Assert.Contains("3 factorised", e.Stdout);
    }

    /// <summary>λ₅/λ₁ of WWᵀ for every weight of <paramref name="checkpoint"/> below 1e-9: rank ≤ 4.</summary>
    private static void AssertRankAtMost4(string checkpoint)
    {
        var (model, _) = Checkpoint.Load(checkpoint);
        using (model)
            foreach (var (name, p) in model.named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal)))
            {
                var w = p.detach().to(float64);
                var values = linalg.eigvalsh(w.matmul(w.T)).data<double>().ToArray().Reverse().ToArray();
                Assert.True(values[4] < 1e-9 * values[0], $"{name}: λ₅ = {values[4]}, λ₁ = {values[0]}");
            }
    }

    [Fact]
    public void Finetune_OfAFactorisedCheckpoint_TrainsInFactoredForm()
    {
        string work = fixture.NewWorkFolder(), f = Path.Combine(work, "f.ckpt"), tuned = Path.Combine(work, "t.ckpt");
        var r = CliRunner.Run(work, "factorize", "-c", fixture.Checkpoint, "--rank", "4", "--out", f);
        Assert.True(r.ExitCode == 0, r.Stderr);
        r = CliRunner.Run(work, "finetune", "-c", f, "--epochs", "1", "--lr", "0.05", "--out", tuned, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        AssertRankAtMost4(tuned);
        var (before, _) = Checkpoint.Load(f);
        var (after, info) = Checkpoint.Load(tuned);
        using (before)
        using (after)
        {
            Assert.Equal(3, info.Compression!.Tensors.Count(t => t.Value.Factorized is { Rank: 4 }));
            Assert.Contains("fixed-rank", info.Recipe);
            var moved = before.parameters().Zip(after.parameters()).Any(p => !p.First.detach().allclose(p.Second.detach(), rtol: 0, atol: 1e-6));
            Assert.True(moved, "fine-tuning moved no weight");
        }
        // Pruning a factorised checkpoint would leave its ranks: refused, nothing written.
        var before2 = CliCheckpointFixture.Snapshot(work);
        r = CliRunner.Run(work, "finetune", "-c", f, "-m", "mp", "-s", "0.5", "--out", Path.Combine(work, "p.ckpt"), "--quiet");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is factorised: fine-tune it without --method or --recipe", r.Stderr);
        Assert.Equal(before2, CliCheckpointFixture.Snapshot(work));
    }

    [Theory]
    [InlineData("give exactly one of --rank and --energy")]
    [InlineData("give exactly one of --rank and --energy", "--rank", "2", "--energy", "0.9")]
    [InlineData("--energy must be in (0, 1]", "--energy", "1.5")]
    [InlineData("--rank must be at least 1", "--rank", "0")]
    public void BadInput_OneLineExit2_NothingWritten(string message, params string[] extra)
    {
        string work = fixture.NewWorkFolder();
        var before = CliCheckpointFixture.Snapshot(work);
        var r = CliRunner.Run(work, ["factorize", "-c", fixture.Checkpoint, "--out", Path.Combine(work, "x.ckpt"), .. extra]);
        Assert.Equal(2, r.ExitCode);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(message, lines[0]);
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work));
    }
}
