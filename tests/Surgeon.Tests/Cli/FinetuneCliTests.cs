using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Training;

namespace Surgeon.Tests.Cli;

/// <summary>surgeon finetune end to end: fine-tuning holds a pruned checkpoint's zeros; gradual pruning reaches s_f.</summary>
public class FinetuneCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cli-ft-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string TinyData()
    {
        string data = Path.Combine(dir, "data");
        CliCheckpointFixture.WriteIdxFolder(data, side: 6, train: 200, test: 80);
        return data;
    }

    /// <summary>Which of the written checkpoint's weights (every Linear weight of MLPNet, module order) are exactly 0,
    /// read from the weights file itself, not from what the sidecar reports.</summary>
    private static bool[] ZeroWeights(string checkpoint)
    {
        var (model, _) = Checkpoint.Load(checkpoint);
        using (model)
            return model.named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal))
                .SelectMany(p => p.parameter.detach().data<float>().ToArray()).Select(v => v == 0).ToArray();
    }

    private static long Zeros(string checkpoint) => ZeroWeights(checkpoint).LongCount(z => z);

    [Fact]
    public void FinetuneHoldsTheZeros_AndGradualPruningReachesTheFinalSparsity()
    {
        string data = TinyData();
        string dense = Path.Combine(dir, "m.ckpt"), pruned = Path.Combine(dir, "p.ckpt");
        Assert.Equal(0, CliRunner.Run(dir, "train", "--data", data, "--epochs", "1", "--out", dense, "--quiet").ExitCode);
        Assert.Equal(0, CliRunner.Run(dir, "prune", "-c", dense, "-m", "mp", "-s", "0.7", "--out", pruned, "--quiet").ExitCode);
        long d = ZeroWeights(dense).Length; // 36·40 + 40·20 + 20·4 = 2,320 on the 6×6, 4-class data
        Assert.Equal(2_320, d);
        Assert.Equal(0, Zeros(dense));
        long zeros = Zeros(pruned);
        Assert.Equal((long)Math.Floor(0.7 * d), zeros);

        string tuned = Path.Combine(dir, "ft.ckpt");
        var r = CliRunner.Run(dir, "finetune", "-c", pruned, "--epochs", "2", "--lr", "0.05", "--out", tuned, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(ZeroWeights(pruned), ZeroWeights(tuned)); // the same weights are zero, not just as many
        Assert.NotEqual(File.ReadAllBytes(pruned), File.ReadAllBytes(tuned));

        string gradual = Path.Combine(dir, "g.ckpt");
        r = CliRunner.Run(dir, "finetune", "-c", dense, "--epochs", "3", "-m", "mp", "-s", "0.8", "--initial-sparsity", "0.3",
            "--prune-steps", "8", "--prune-every", "2", "--out", gradual, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        // Magnitude pruning of a model whose pruned weights are 0 prunes them again first, so the growing mask ends at
        // exactly ⌊0.8·d⌋ zeros; the sidecar reports that count's fraction.
        long gradualZeros = Zeros(gradual);
        Assert.Equal((long)Math.Floor(0.8 * d), gradualZeros);
        var (gradualModel, info) = Checkpoint.Load(gradual);
        gradualModel.Dispose();
        Assert.Equal((double)gradualZeros / d, info.Sparsity, 12);
        Assert.Equal("gradual mp", info.PruningMethod);

        // prune --schedule gradual is the same run as finetune -m -s: the same weights, byte for byte.
        string viaPrune = Path.Combine(dir, "g2.ckpt");
        r = CliRunner.Run(dir, "prune", "-c", dense, "--schedule", "gradual", "--epochs", "3", "-m", "mp", "-s", "0.8",
            "--initial-sparsity", "0.3", "--prune-steps", "8", "--prune-every", "2", "--out", viaPrune, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(File.ReadAllBytes(gradual), File.ReadAllBytes(viaPrune));

        // --train-subset fine-tunes on the class-balanced subset train --train-subset uses; negative counts are refused.
        string onSubset = Path.Combine(dir, "sub.ckpt");
        r = CliRunner.Run(dir, "finetune", "-c", pruned, "--epochs", "1", "--train-subset", "60", "--out", onSubset, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        string TrainImages(string path)
        {
            var (model, info) = Checkpoint.Load(path);
            model.Dispose();
            return info.Notes["finetuneTrainImages"];
        }
        Assert.Equal("60", TrainImages(onSubset));
        Assert.Equal("200", TrainImages(tuned));
        r = CliRunner.Run(dir, "finetune", "-c", pruned, "--train-subset", "-5", "--out", Path.Combine(dir, "neg.ckpt"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--train-subset", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "neg.ckpt")));

        r = CliRunner.Run(dir, "finetune", "-c", dense, "-m", "mp", "--out", Path.Combine(dir, "x.ckpt"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--sparsity", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir, "x.ckpt")));
    }
}
