using Surgeon.Compression;
using System.CommandLine;
using Surgeon.Pruning;

namespace Surgeon.Cli.Commands;

/// <summary>The options of the methods that use data or curvature, shared by prune, sweep and finetune (validated by <see cref="PruningOptions.Validate"/>).</summary>
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

    private readonly Option<double> cbsEpsilon = new("--cbs-epsilon")
    {
        Description = "CBS-S: accept a swap when it lowers f(P) by at least ε (paper: 1e-4).",
        DefaultValueFactory = _ => 1e-4,
    };
    private readonly Option<bool> cbsRelativeEpsilon = new("--cbs-relative-epsilon")
    {
        Description = "CBS-S: read ε relative to f(P) of the start mask (useful on well-trained models, whose f is tiny).",
    };
    private readonly Option<int> scoreSamples = new("--score-samples")
    {
        Description = "Training samples the data-dependent scores (snip, grasp, loss-preservation, …) average their gradients over.",
        DefaultValueFactory = _ => 1000,
    };
    private readonly Option<int> cbsRho = new("--cbs-rho") { Description = "CBS-S: swap window ±ρ ranks (paper: 10).", DefaultValueFactory = _ => 10 };
    private readonly Option<int> cbsTau = new("--cbs-tau") { Description = "CBS-S: failures before an iteration ends (paper: 20).", DefaultValueFactory = _ => 20 };
    private readonly Option<int> cbsIterations = new("--cbs-iterations") { Description = "CBS-S: most swap iterations.", DefaultValueFactory = _ => 100 };
    private readonly Option<int> cbsCandidates = new("--cbs-candidates") { Description = "CBS-S: randomised magnitude start masks scored by real loss.", DefaultValueFactory = _ => 50 };
    private readonly Option<int> cbsLossSamples = new("--cbs-loss-samples") { Description = "CBS-S: training samples for the real loss of a mask.", DefaultValueFactory = _ => 5000 };

    private readonly Option<string> cbsStartScoring = new("--cbs-start-scoring")
    {
        Description = "CBS-S: halving = the randomised starts by successive halving (all on a few hundred loss samples, the best quarter " +
            "on 4× as many, …, the finalists on all of them), each rung's starts racing the best fully scored one, and every mask's loss " +
            "cut short once it cannot beat the best or is clearly worse than it on the samples both have seen (paired test, 4 standard errors, ≥ 500 samples); " +
            "exhaustive = every mask on every loss sample (the paper's, for reproduction).",
        DefaultValueFactory = _ => "halving",
    };

    private readonly Option<int> chitaIterations = new("--chita-iterations") { Description = "CHITA: most IHT steps per Fisher block and round.", DefaultValueFactory = _ => 200 };
    private readonly Option<int> chitaSwapCandidates = new("--chita-swap-candidates")
    {
        Description = "chita-swap: the m pruned weights (largest |∇Q|) and m kept weights (smallest β²F_ii) whose m×m swaps are tried, each judged by an exact backsolve.",
        DefaultValueFactory = _ => 8,
    };
    private readonly Option<int> chitaSwaps = new("--chita-swaps") { Description = "chita-swap: most swaps accepted.", DefaultValueFactory = _ => 50 };

    public void AddTo(Command command)
    {
        command.Options.Add(chitaIterations);
        command.Options.Add(chitaSwapCandidates);
        command.Options.Add(chitaSwaps);
        command.Options.Add(cbsEpsilon);
        command.Options.Add(cbsRelativeEpsilon);
        command.Options.Add(cbsRho);
        command.Options.Add(cbsTau);
        command.Options.Add(cbsIterations);
        command.Options.Add(cbsCandidates);
        command.Options.Add(cbsLossSamples);
        command.Options.Add(cbsStartScoring);
        command.Options.Add(fisherSamples);
        command.Options.Add(lambda);
        command.Options.Add(blockSize);
        command.Options.Add(examplesPerSample);
        command.Options.Add(updateScale);
        command.Options.Add(scoreSamples);
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
            CbsEpsilon = r.GetValue(cbsEpsilon),
            CbsRelativeEpsilon = r.GetValue(cbsRelativeEpsilon),
            CbsRho = r.GetValue(cbsRho),
            CbsTau = r.GetValue(cbsTau),
            CbsMaxIterations = r.GetValue(cbsIterations),
            CbsCandidates = r.GetValue(cbsCandidates),
            CbsLossSamples = r.GetValue(cbsLossSamples),
            CbsStartScoring = CbsStartScorings.Parse(r.GetValue(cbsStartScoring) ?? "halving"),
            ScoreSamples = r.GetValue(scoreSamples),
            ChitaIterations = r.GetValue(chitaIterations),
            ChitaSwapCandidates = r.GetValue(chitaSwapCandidates),
            ChitaMaxSwaps = r.GetValue(chitaSwaps),
        };
        o.Validate();
        return o;
    }
}
