namespace Surgeon.Export.Safetensors;

/// <summary>
/// A file's tensors matched to a model's state by name: the ones that load (same shape, convertible dtype), the ones
/// the model has and the file lacks (missing), the ones the file has and the model lacks (unexpected), and the ones in
/// both that do not fit (mis-shaped: another shape, or a dtype that does not convert, e.g. floats into an integer buffer).
/// </summary>
internal sealed record WeightMatch(
    IReadOnlyList<StateTensor> Loadable, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> Misshaped, int ModelTensors)
{
    /// <param name="model">The model's state: name → (dtype, shape), in state-dict order.</param>
    public static WeightMatch Compute(IReadOnlyList<(string Name, string DType, long[] Shape)> model, IReadOnlyList<StateTensor> file)
    {
        var wanted = model.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var present = file.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var loadable = new List<StateTensor>();
        var misshaped = new List<string>();
        var unexpected = new List<string>();
        foreach (var t in file)
        {
            if (!wanted.TryGetValue(t.Name, out var want))
                unexpected.Add(t.Name);
            else if (!t.Shape.AsSpan().SequenceEqual(want.Shape) || !SafetensorsValues.CanConvert(t.DType, want.DType))
                misshaped.Add($"{t.Name} (file {t.DType} {t.ShapeText}, model {want.DType} {StateTensor.ShapeTextOf(want.Shape)})");
            else
                loadable.Add(SafetensorsValues.Convert(t, want.DType));
        }
        var missing = model.Where(m => !present.Contains(m.Name)).Select(m => m.Name).ToList();
        return new WeightMatch(loadable, missing, unexpected, misshaped, model.Count);
    }

    /// <summary>The report, one line per kind: loaded, missing, unexpected, mis-shaped.</summary>
    public IReadOnlyList<string> ReportLines(bool missingKeptInitial) =>
    [
        $"loaded {Loadable.Count} of the model's {ModelTensors} tensors by name",
        Missing.Count == 0 ? "missing: none" : $"missing{(missingKeptInitial ? " (kept at their initial values)" : "")}: {string.Join(", ", Missing)}",
        Unexpected.Count == 0 ? "unexpected: none" : $"unexpected (ignored): {string.Join(", ", Unexpected)}",
        Misshaped.Count == 0 ? "mis-shaped: none" : $"mis-shaped: {string.Join("; ", Misshaped)}",
    ];

    /// <summary>The same on one line, shortened, for an error message.</summary>
    public string Summary() =>
        $"{Misshaped.Count} mis-shaped{(Misshaped.Count > 0 ? $" ({NameList.Of(Misshaped, 2)})" : "")}, " +
        $"{Missing.Count} missing{(Missing.Count > 0 ? $" ({NameList.Of(Missing)})" : "")}, " +
        $"{Unexpected.Count} unexpected{(Unexpected.Count > 0 ? $" ({NameList.Of(Unexpected)})" : "")}";
}
