namespace Surgeon.Scoring;

/// <summary>The importance measures by name, with their default settings (GraSP's T_H = 200).</summary>
public static class ImportanceMeasures
{
    private static readonly Dictionary<string, Func<IImportanceMeasure>> Factories = new(StringComparer.OrdinalIgnoreCase)
    {
        ["magnitude"] = () => new MagnitudeMeasure(),
        ["loss-preservation"] = () => new LossPreservationMeasure(),
        ["biased-loss"] = () => new BiasedLossMeasure(),
        ["grasp"] = () => new GraspMeasure(),
        ["gradient-norm"] = () => new GradientNormMeasure(),
        ["taylor"] = () => new TaylorMeasure(),
        ["fisher"] = () => new FisherMeasure(),
        ["l1"] = () => new L1Measure(),
        ["bn-scale"] = () => new BnScaleMeasure(),
        ["snip"] = () => new SnipMeasure(),
        ["synflow"] = () => new SynFlowMeasure(),
    };

    public static IReadOnlyList<string> Names { get; } = [.. Factories.Keys];

    public static IImportanceMeasure Create(string name) =>
        Factories.TryGetValue(name.Trim(), out var create)
            ? create()
            : throw new SurgeonException($"unknown importance measure '{name}': known measures are {string.Join(", ", Names)}");
}
