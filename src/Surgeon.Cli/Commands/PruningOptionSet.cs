using System.CommandLine;
using Surgeon.Pruning;

namespace Surgeon.Cli.Commands;

/// <summary>The options of curvature-based methods, shared by prune and sweep.</summary>
internal sealed class PruningOptionSet
{
    private readonly Option<int> fisherSamples = new("--fisher-samples")
    {
        Description = "N, the number of per-sample gradients in the empirical Fisher (WoodFisher, CBS).",
        DefaultValueFactory = _ => 1000,
    };
    private readonly Option<double> lambda = new("--lambda")
    {
        Description = "Dampening λ of the Fisher, F_λ = λI + F (1e-3 is the papers' MLPNet value).",
        DefaultValueFactory = _ => 1e-3,
    };
    private readonly Option<int> blockSize = new("--block-size")
    {
        Description = "Fisher block size B: 0 = one block for the whole model, -1 = one block per layer, B > 0 = chunks of B weights.",
        DefaultValueFactory = _ => 0,
    };
    private readonly Option<int> examplesPerSample = new("--examples-per-sample")
    {
        Description = "m, the examples averaged into one Fisher sample gradient (1 = one example each).",
        DefaultValueFactory = _ => 1,
    };
    private readonly Option<double> updateScale = new("--update-scale")
    {
        Description = "Scale of the OBS weight update (1 = full update).",
        DefaultValueFactory = _ => 1.0,
    };

    public void AddTo(Command command)
    {
        command.Options.Add(fisherSamples);
        command.Options.Add(lambda);
        command.Options.Add(blockSize);
        command.Options.Add(examplesPerSample);
        command.Options.Add(updateScale);
    }

    public PruningOptions Read(ParseResult r)
    {
        var o = new PruningOptions
        {
            FisherSamples = r.GetValue(fisherSamples),
            Lambda = r.GetValue(lambda),
            BlockSize = r.GetValue(blockSize),
            ExamplesPerSample = r.GetValue(examplesPerSample),
            UpdateScale = r.GetValue(updateScale),
        };
        if (o.FisherSamples < 1) throw new SurgeonException($"--fisher-samples must be ≥ 1, got {o.FisherSamples}");
        if (!(o.Lambda > 0) || double.IsInfinity(o.Lambda)) throw new SurgeonException($"--lambda must be positive, got {o.Lambda}");
        if (o.BlockSize < -1) throw new SurgeonException($"--block-size must be -1, 0 or positive, got {o.BlockSize}");
        if (o.ExamplesPerSample < 1) throw new SurgeonException($"--examples-per-sample must be ≥ 1, got {o.ExamplesPerSample}");
        if (double.IsNaN(o.UpdateScale) || double.IsInfinity(o.UpdateScale)) throw new SurgeonException("--update-scale must be a finite number");
        return o;
    }
}
