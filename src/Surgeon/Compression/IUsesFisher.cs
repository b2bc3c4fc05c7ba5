namespace Surgeon.Compression;

/// <summary>A selection or update that uses the empirical Fisher (through Curvature.FisherProvider).</summary>
public interface IUsesFisher
{
    /// <summary>
    /// Bytes per prunable weight that this step holds at its peak beside G and the factors (flattened weights, diagonals,
    /// scores, masks, sort orders), for the memory estimate (Curvature.CurvatureMemory).
    /// </summary>
    int BookkeepingBytesPerWeight { get; }

    /// <summary>Examples in one forward pass that this step runs beside the Fisher (CBS-S scores masks by real loss), 0 if none.</summary>
    int LossEvaluationExamples(PruningOptions options);
}
