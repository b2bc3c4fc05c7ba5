using Surgeon.Models;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Export.Safetensors;

/// <summary>
/// The rules every by-name import follows (safetensors, PyTorch state dicts): the file's tensors are matched against
/// the registry model's state before any model is built, so weights that do not fit allocate nothing; mis-shaped
/// tensors are an error, and so are missing ones unless <see cref="ImportRequest.AllowMissing"/>; tensors the file lacks
/// keep initial values seeded by <see cref="ImportRequest.Seed"/>; unexpected ones are reported.
/// </summary>
internal static class NamedWeightsImport
{
    /// <param name="tensorsFor">The file's tensors, given the model's state (name, dtype, shape) to adapt them to.</param>
    public static ImportResult Load(ImportRequest request, CheckpointInfo info,
        Func<IReadOnlyList<(string Name, string DType, long[] Shape)>, IReadOnlyList<StateTensor>> tensorsFor)
    {
        string path = request.InputPath;
        var state = ModelRegistry.StateOf(info.Spec).Select(t => (t.Name, ElementTypes.NameOf(t.DType), t.Shape)).ToList();
        var match = WeightMatch.Compute(state, tensorsFor(state));
        if (match.Misshaped.Count > 0 || (match.Missing.Count > 0 && !request.AllowMissing))
            throw new SurgeonException(
                $"{path} does not fit a {ImportFormats.Describe(info)}: {match.Summary()}; " +
                (match.Misshaped.Count > 0
                    ? "give the --model, --width, --channels and --data the weights were made for"
                    : "give the matching model, or --allow-missing to keep the missing tensors at their initial values"));
        torch.manual_seed(request.Seed); // the initial values of tensors the file may lack
        var model = ModelRegistry.Create(info.Spec);
        try
        {
            ModelState.Assign(model, match.Loadable);
            model.eval();
            Checkpoint.EnsureFinite(model, path);
            return new ImportResult(model, ImportFormats.Imported(info, request), match.ReportLines(missingKeptInitial: true));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
