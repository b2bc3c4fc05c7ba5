namespace Surgeon.Models.Onnx;

/// <summary>
/// The BatchNormalization nodes of an imported graph that fold exactly into the Conv before them: the norm reads the
/// conv's output, and nothing else does (no other node, not the graph's output), so BN(W∗x + b) = (s·W)∗x + (s·b + t)
/// replaces both. PyTorch's exports (conv → bn) are of this form. Any other norm stays a BatchNormalization node, in
/// float, in a quantised model and its QDQ export alike.
/// </summary>
internal static class OnnxNormFolds
{
    public static IReadOnlyList<NormFold> Of(OnnxGraphModel model)
    {
        var readers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var step in model.Steps)
            foreach (string input in step.Inputs)
                readers[input] = readers.GetValueOrDefault(input) + 1;
        var convByOutput = model.Steps.OfType<ConvStep>().ToDictionary(c => c.Output, StringComparer.Ordinal);
        var folds = new List<NormFold>();
        foreach (var norm in model.Steps.OfType<NormStep>())
        {
            string input = norm.Inputs[0];
            if (convByOutput.TryGetValue(input, out var conv) && readers.GetValueOrDefault(input) == 1 && input != model.OutputName)
                folds.Add(new NormFold(norm.ModuleName, conv.ModuleName, FoldDirection.IntoPrecedingConv));
        }
        return folds;
    }
}
