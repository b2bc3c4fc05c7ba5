using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Pruning;
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

    private static long Zeros(string checkpoint)
    {
        var (model, _) = Checkpoint.Load(checkpoint);
        using var flat = PrunableParameters.Flatten(PrunableParameters.Discover(model));
        return flat.eq(Surgeon.Numerics.HeldScalars.Of(0)).sum().item<long>();
    }

    [Fact]
    public void FinetuneHoldsTheZeros_AndGradualPruningReachesTheFinalSparsity()
    {
        string data = TinyData();
        string dense = Path.Combine(dir, "m.ckpt"), pruned = Path.Combine(dir, "p.ckpt");
        Assert.Equal(0, CliRunner.Run(dir, "train", "--data", data, "--epochs", "1", "--out", dense, "--quiet").ExitCode);
        Assert.Equal(0, CliRunner.Run(dir, "prune", "-c", dense, "-m", "mp", "-s", "0.7", "--out", pruned, "--quiet").ExitCode);
        long zeros = Zeros(pruned);

        string tuned = Path.Combine(dir, "ft.ckpt");
        var r = CliRunner.Run(dir, "finetune", "-c", pruned, "--epochs", "2", "--lr", "0.05", "--out", tuned, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(zeros, Zeros(tuned));
        Assert.NotEqual(File.ReadAllBytes(pruned), File.ReadAllBytes(tuned));

        string gradual = Path.Combine(dir, "g.ckpt");
        r = CliRunner.Run(dir, "finetune", "-c", dense, "--epochs", "3", "-m", "mp", "-s", "0.8", "--initial-sparsity", "0.3",
            "--prune-steps", "8", "--prune-every", "2", "--out", gradual, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var (_, info) = Checkpoint.Load(gradual);
        Assert.InRange(info.Sparsity, 0.8 - 1e-9, 0.8 + 0.01);
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
