using System.Collections;
using Surgeon.Export.Safetensors;
using Surgeon.Models;
using Surgeon.Training;
using TorchSharp;
using TorchSharp.PyBridge;

namespace Surgeon.Export.Pytorch;

/// <summary>
/// <c>surgeon import --format pytorch</c>: a state dict saved by <c>torch.save(model.state_dict(), path)</c> (the zip
/// format of PyTorch 1.6 and later; .pt, .pth or .bin), unpickled by TorchSharp.PyBridge and loaded by parameter name
/// into the registry model the request names, with the safetensors importer's rules and report: mis-shaped tensors are
/// an error, and so are missing ones unless allowed; unexpected ones are reported.
/// </summary>
internal static class PytorchImport
{
    /// <summary>The local-file signature every zip archive starts with ("PK\x03\x04").</summary>
    private static readonly byte[] ZipSignature = [0x50, 0x4b, 0x03, 0x04];

    public static ImportResult Read(ImportRequest request)
    {
        string path = request.InputPath;
        var info = request.Spec ?? throw new SurgeonException(
            $"{path}: a PyTorch state dict does not say which model it belongs to; name it with --model (and --width, --channels, --data)");
        var tensors = ReadStateDict(path);
        return NamedWeightsImport.Load(request, info, state => AsScalars(tensors, state));
    }

    /// <summary>
    /// The file's tensors as raw state tensors, sorted by name (the unpickler's table keeps no order, and its own order
    /// changes from run to run); a file that is no state dict is one line.
    /// </summary>
    public static List<StateTensor> ReadStateDict(string path)
    {
        var header = new byte[4];
        int read;
        using (var probe = File.OpenRead(path))
            read = probe.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (read < header.Length || !header.AsSpan().SequenceEqual(ZipSignature))
            throw new SurgeonException($"{path} is not a PyTorch state dict in torch.save's zip format (PyTorch ≥ 1.6); re-save it with torch.save(model.state_dict(), path)");
        Hashtable table;
        using (var stream = File.OpenRead(path))
        {
            try
            {
                table = PyTorchUnpickler.UnpickleStateDict(stream, leaveOpen: false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The unpickler reports a truncated archive, a whole pickled model or an unknown storage type in many
                // exception types (zip, pickle, cast, not-implemented); each is the same fact for the user.
                throw new SurgeonException($"{path} could not be read as a PyTorch state dict ({e.GetType().Name}: {e.Message.Split('\n')[0].Trim()})", e);
            }
        }
        var tensors = new List<StateTensor>();
        // PyBridge hands the state dict back as a Hashtable, whose order changes from process to process (string
        // hashes are randomised): sorted by name, the tensors and every report about them come out the same each run.
        foreach (DictionaryEntry entry in table.Cast<DictionaryEntry>().OrderBy(e => e.Key as string ?? "", StringComparer.Ordinal))
        {
            if (entry.Key is not string name || entry.Value is not torch.Tensor t)
                throw new SurgeonException($"{path}: entry {entry.Key} is not a named tensor; Surgeon reads state dicts (name → tensor)");
            using (t)
            using (var dense = t.contiguous())
                tensors.Add(new StateTensor(name, ElementTypes.NameOf(dense.dtype), dense.shape, dense.bytes.ToArray()));
        }
        return tensors;
    }

    /// <summary>
    /// PyBridge rebuilds a zero-dimensional tensor (BatchNorm's num_batches_tracked) with shape [1]; where the model
    /// wants a scalar of that name, the one value is that scalar.
    /// </summary>
    private static List<StateTensor> AsScalars(List<StateTensor> tensors, IReadOnlyList<(string Name, string DType, long[] Shape)> state)
    {
        var scalars = state.Where(s => s.Shape.Length == 0).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        return tensors.Select(t => scalars.Contains(t.Name) && t.Shape is [1] ? t with { Shape = [] } : t).ToList();
    }
}
