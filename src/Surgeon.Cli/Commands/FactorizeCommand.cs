using System.CommandLine;
using System.Globalization;
using Surgeon.Data;
using Surgeon.Models;
using Surgeon.Training;

namespace Surgeon.Cli.Commands;

/// <summary>surgeon factorize: one-shot low-rank compression of a checkpoint by truncated SVD.</summary>
internal static class FactorizeCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "Dense checkpoint to factorise.", Required = true };
        var rank = new Option<int?>("--rank", "-r") { Description = "Rank r of every factorised weight (capped at min(F, D) of each)." };
        var energy = new Option<double?>("--energy", "-e") { Description = "Per weight, the smallest rank whose singular values hold this fraction of Σσ², in (0, 1]." };
        var output = new Option<string?>("--out", "-o") { Description = "Factorised checkpoint to write (default: beside the input, named after the rank or energy)." };
        var data = CliOptions.Data("Test data to evaluate with (default: the checkpoint's dataset).");
        var device = CliOptions.Device();
        var command = new Command("factorize",
            "Low-rank factorisation: every Conv2d (as its F × C·k·k filter matrix) and Linear weight becomes its truncated SVD " +
            "U·diag(s)·Vᵀ at --rank r or at the rank keeping --energy of Σσ², where the r(F + D) factor entries are fewer than F·D " +
            "(other layers stay dense). Prints per layer the rank, the energy kept, parameters and multiply-adds dense and factorised, " +
            "the accuracy before and after, and writes a checkpoint whose weights hold the rank-r products (eval and export " +
            "read it as any checkpoint; the sidecar records each rank; finetune trains it in factored form, each weight put back on its rank after every step).")
        {
            checkpoint, rank, energy, output, data, device,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string path = r.GetValue(checkpoint)!;
            var target = new LowRankTarget(r.GetValue(rank), r.GetValue(energy));
            target.Validate();
            var dev = CliOptions.ParseDevice(r.GetValue(device)!);
            string outPath = r.GetValue(output) ?? Path.Combine(Path.GetDirectoryName(path) ?? ".",
                $"{Path.GetFileNameWithoutExtension(path)}-{(target.Rank is { } rk ? $"r{rk}" : $"e{target.Energy!.Value.ToString(CultureInfo.InvariantCulture)}")}.ckpt");
            new Surgeon.IO.RunPaths().ReadsCheckpoint(path).ReadsData(CliOptions.DataOf(r.GetValue(data), path))
                .WritesCheckpoint(outPath, "--out").Check();
            var (model, info) = Checkpoint.Load(path, dev);
            using (model)
            {
                // A mask's zeros or a quantisation grid would not survive the SVD: refuse rather than write weights the
                // sidecar no longer describes.
                if (info.Compression is { } previous && (previous.HasMasks || previous.Quantization is not null
                    || previous.Tensors.Values.Any(t => t.Quantization is not null || t.Factorized is not null)))
                    throw new SurgeonException($"{path} is already pruned, quantised or factorised; factorise the dense checkpoint it came from");
                string dataSpec = r.GetValue(data) ?? info.Dataset;
                var (_, test) = DatasetCatalog.Load(dataSpec);
                info.EnsureFits(test);
                var before = Evaluator.Evaluate(model, test, device: dev);
                var layers = LowRankFactorization.Apply(model, info.InputShape, target);
                var after = Evaluator.Evaluate(model, test, device: dev);
                if (!double.IsFinite(after.Loss))
                    throw new SurgeonException("the factorised model's outputs overflow float32; nothing was written");
                var c = CultureInfo.InvariantCulture;
                long denseParams = layers.Sum(l => l.DenseWeights), factorParams = layers.Sum(l => l.FactorWeights);
                long denseFlops = layers.Sum(l => l.DenseFlops), factorFlops = layers.Sum(l => l.FactorFlops);
                Checkpoint.Save(outPath, model, info with
                {
                    TestAccuracy = after.Accuracy,
                    TestLoss = after.Loss,
                    Dataset = dataSpec,
                    Compression = LowRankFactorization.Store(info.Compression, layers),
                    Notes = new(info.Notes)
                    {
                        ["factorizedFrom"] = Path.GetFullPath(path),
                        ["factorization"] = target.ToString(),
                        ["denseAccuracy"] = before.Accuracy.ToString("R", c),
                        ["weightsDense"] = denseParams.ToString(c),
                        ["weightsFactorized"] = factorParams.ToString(c),
                        ["flopsDense"] = denseFlops.ToString(c),
                        ["flopsFactorized"] = factorFlops.ToString(c),
                    },
                });
                Console.WriteLine($"{"layer",-24} {"F×D",-14} {"rank",5} {"energy",8} {"weights",11} {"→",1} {"factorised",11} {"MACs",12} {"→",1} {"factorised",12}");
                foreach (var l in layers)
                    Console.WriteLine($"{l.Name,-24} {$"{l.Rows}×{l.Columns}",-14} {(l.Factorized ? l.Rank.ToString(c) : "dense"),5} {l.EnergyKept,8:P2} " +
                        $"{l.DenseWeights,11:N0} → {l.FactorWeights,11:N0} {l.DenseFlops,12:N0} → {l.FactorFlops,12:N0}");
                Console.WriteLine($"Conv2d/Linear weights {denseParams:N0} → {factorParams:N0} ({(double)denseParams / factorParams:F2}×), " +
                    $"multiply-adds per sample {denseFlops:N0} → {factorFlops:N0} ({(double)denseFlops / factorFlops:F2}×)");
                Console.WriteLine($"accuracy dense {before.Accuracy:P2} → factorised {after.Accuracy:P2} ({(after.Accuracy - before.Accuracy) * 100:+0.00;-0.00;0.00} points), " +
                    $"loss {before.Loss:F4} → {after.Loss:F4}; wrote {outPath}");
            }
            return 0;
        }));
        return command;
    }
}
