namespace Surgeon.Compression;

/// <summary>A selection or update that uses the empirical Fisher (through Curvature.FisherProvider).</summary>
internal interface IUsesFisher
{
    /// <summary>
    /// Bytes per prunable weight that this step holds at its peak beside G and the factors (flattened weights, diagonals,
    /// scores, masks, sort orders), for the memory estimate (Curvature.CurvatureMemory).
    /// </summary>
    int BookkeepingBytesPerWeight { get; }

    /// <summary>Examples in one forward pass that this step runs beside the Fisher (CBS-S scores masks by real loss), 0 if none.</summary>
    int LossEvaluationExamples(PruningOptions options);

    /// <summary>What this step does with the Fisher beyond F·v products, for the memory estimate.</summary>
    FisherWork Work { get; }
}

/// <summary>The memory-relevant ways a step uses the Fisher, beyond F·v = Gᵀ(Gv)/N (which needs only G).</summary>
[Flags]
internal enum FisherWork
{
    /// <summary>F·v products only (CBS-S's swap search).</summary>
    Products = 0,
    /// <summary>The cached Cholesky factors of every block and F_λ⁻¹ products (WoodFisher's score, the OBS update).</summary>
    Factors = 1,
    /// <summary>The ridge solve on the kept set of each block (CBS-U, CHITA's backsolve): its own Gram matrix and factor,
    /// min(N, |U|)² in float64, one block at a time.</summary>
    KeptSetSolve = 2,
    /// <summary>CHITA's IHT keeps the columns of G on the current support as contiguous rows, at most 64 MiB
    /// (Curvature.KeptColumns.ChunkBytes), and those of its active set (up to three times the support), at most as much, beside the
    /// kept-set solve.</summary>
    SupportColumns = 4,
}
