using System.Globalization;
using Surgeon.Models;
using Surgeon.Training;

namespace Surgeon.Export.Sparse;

/// <summary><c>surgeon import --format sparse</c>: rebuilds the model a sparse file describes, with its state bit for bit
/// (but −0.0, which comes back as +0.0; see <see cref="SparseBlocks"/>).</summary>
internal static class SparseImport
{
    public static ImportResult Read(ImportRequest request)
    {
        var contents = SparseFile.Read(request.InputPath);
        var info = contents.Info;
        var model = ModelRegistry.Create(info.Spec);
        try
        {
            ModelState.RequireExactMatch(model, contents.Tensors, request.InputPath, ImportFormats.Describe(info));
            ModelState.Assign(model, contents.Tensors);
            model.eval();
            Checkpoint.EnsureFinite(model, request.InputPath);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        long stored = contents.Entries.Sum(e => e.Stored), elements = contents.Tensors.Sum(t => t.Elements);
        string line = $"loaded all {contents.Tensors.Count} tensors ({stored.ToString("N0", CultureInfo.InvariantCulture)} of " +
            $"{elements.ToString("N0", CultureInfo.InvariantCulture)} values stored)";
        return new ImportResult(model, ImportFormats.Imported(info, request), [line]);
    }
}
