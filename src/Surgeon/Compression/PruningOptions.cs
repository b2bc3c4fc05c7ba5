namespace Surgeon.Compression;

/// <summary>Options of the methods that use curvature; the plain magnitude methods ignore them.</summary>
public sealed record PruningOptions
{
    /// <summary>Number of per-sample gradients N in the empirical Fisher.</summary>
    public int FisherSamples { get; init; } = 1000;
    /// <summary>Dampening λ of F_λ = λI + F.</summary>
    public double Lambda { get; init; } = 1e-3;
    /// <summary>Fisher blocks: 0 = the whole model in one block, -1 = one block per layer, B &gt; 0 = chunks of B weights.</summary>
    public int BlockSize { get; init; }
    /// <summary>Examples averaged into one "sample" gradient (m; 1 = one example per sample).</summary>
    public int ExamplesPerSample { get; init; } = 1;
    /// <summary>Scale of the OBS weight update (1 = the full update).</summary>
    public double UpdateScale { get; init; } = 1.0;

    // CBS-S (Yu et al. 2022), with the paper's values as defaults.
    /// <summary>ε: a swap is accepted when it lowers f(P) by at least this much.</summary>
    public double CbsEpsilon { get; init; } = 1e-4;
    /// <summary>When set, ε is relative to f(P₀) of the start mask instead of absolute.</summary>
    public bool CbsRelativeEpsilon { get; init; }
    /// <summary>ρ: each i ∈ P is tried against the kept weights within ±ρ ranks.</summary>
    public int CbsRho { get; init; } = 10;
    /// <summary>τ: an iteration ends after this many i's found no improving swap.</summary>
    public int CbsTau { get; init; } = 20;
    /// <summary>CBS-S: at most this many swap-search iterations per start.</summary>
    public int CbsMaxIterations { get; init; } = 100;
    /// <summary>Randomised magnitude masks scored for the start (candidate 0 is global magnitude).</summary>
    public int CbsCandidates { get; init; } = 50;
    /// <summary>Training samples on which the real loss of a mask is measured.</summary>
    public int CbsLossSamples { get; init; } = 5000;
    /// <summary>Successive halving with early stops (default) or every mask on every loss sample (the paper's).</summary>
    public CbsStartScoring CbsStartScoring { get; init; } = CbsStartScoring.Halving;

    /// <summary>CHITA: IHT steps per block and round at most.</summary>
    public int ChitaIterations { get; init; } = 200;
    /// <summary>CHITA's swap refinement (chita-swap): the m pruned and m kept candidates tried per swap.</summary>
    public int ChitaSwapCandidates { get; init; } = 8;
    /// <summary>CHITA's swap refinement: swaps accepted at most.</summary>
    public int ChitaMaxSwaps { get; init; } = 50;

    /// <summary>Training samples the data-dependent scores (SNIP, GraSP, loss-preservation…) average their gradients over.</summary>
    public int ScoreSamples { get; init; } = 1000;

    /// <summary>
    /// The record's text (it keys a sweep's journal of finished points): the members in declaration order, with
    /// <see cref="ScoreSamples"/> only when it is not the default, so journals written before it existed still match.
    /// </summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"FisherSamples = {FisherSamples}, Lambda = {Lambda}, BlockSize = {BlockSize}, ExamplesPerSample = {ExamplesPerSample}, ")
            .Append($"UpdateScale = {UpdateScale}, CbsEpsilon = {CbsEpsilon}, CbsRelativeEpsilon = {CbsRelativeEpsilon}, CbsRho = {CbsRho}, ")
            .Append($"CbsTau = {CbsTau}, CbsMaxIterations = {CbsMaxIterations}, CbsCandidates = {CbsCandidates}, CbsLossSamples = {CbsLossSamples}");
        // Only when not the default, so journals written before the option existed still match. Their CBS points were
        // scored exhaustively; a resumed sweep takes them as they are.
        if (CbsStartScoring != CbsStartScoring.Halving) builder.Append($", CbsStartScoring = {CbsStartScoring}");
        if (ScoreSamples != 1000) builder.Append($", ScoreSamples = {ScoreSamples}");
        if (ChitaIterations != 200) builder.Append($", ChitaIterations = {ChitaIterations}");
        if (ChitaSwapCandidates != 8) builder.Append($", ChitaSwapCandidates = {ChitaSwapCandidates}");
        if (ChitaMaxSwaps != 50) builder.Append($", ChitaMaxSwaps = {ChitaMaxSwaps}");
        return true;
    }

    /// <summary>Throws a one-line <see cref="SurgeonException"/> (naming the command-line option) for a value out of range.</summary>
    public void Validate()
    {
        if (!(CbsEpsilon >= 0) || double.IsInfinity(CbsEpsilon)) throw new SurgeonException($"--cbs-epsilon must be ≥ 0, got {CbsEpsilon}");
        if (CbsRho < 0 || CbsTau < 1 || CbsMaxIterations < 0)
            throw new SurgeonException("--cbs-rho must be ≥ 0, --cbs-tau ≥ 1 and --cbs-iterations ≥ 0");
        if (CbsCandidates < 1) throw new SurgeonException($"--cbs-candidates must be ≥ 1, got {CbsCandidates}");
        if (CbsLossSamples < 1) throw new SurgeonException($"--cbs-loss-samples must be ≥ 1, got {CbsLossSamples}");
        if (FisherSamples < 1) throw new SurgeonException($"--fisher-samples must be ≥ 1, got {FisherSamples}");
        if (!(Lambda > 0) || double.IsInfinity(Lambda)) throw new SurgeonException($"--lambda must be positive, got {Lambda}");
        if (BlockSize < -1) throw new SurgeonException($"--block-size must be -1, 0 or positive, got {BlockSize}");
        if (ExamplesPerSample < 1) throw new SurgeonException($"--examples-per-sample must be ≥ 1, got {ExamplesPerSample}");
        if (double.IsNaN(UpdateScale) || double.IsInfinity(UpdateScale)) throw new SurgeonException("--update-scale must be a finite number");
        if (ChitaIterations < 0) throw new SurgeonException($"--chita-iterations must be ≥ 0, got {ChitaIterations}");
        if (ChitaSwapCandidates < 1 || ChitaMaxSwaps < 0)
            throw new SurgeonException("--chita-swap-candidates must be ≥ 1 and --chita-swaps ≥ 0");
        if (ScoreSamples < 1) throw new SurgeonException($"--score-samples must be ≥ 1, got {ScoreSamples}");
    }
}
