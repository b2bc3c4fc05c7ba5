using Google.Protobuf;
using Onnx;

namespace Surgeon.Models.Onnx;

/// <summary>
/// Reads an ONNX file into OnnxSharp's <see cref="ModelProto"/> and refuses, with one line, what cannot be a model:
/// a file protobuf cannot parse (truncated, or not ONNX at all), a model without a graph, nodes or an IR version, an
/// operator set other than the default domain's, and an initializer stored as external data whose file is missing or
/// too short. External data is read in (and the reference dropped), so the rest of the importer sees plain tensors.
/// </summary>
internal static class OnnxFile
{
    /// <summary>The largest file read (protobuf's own limit for one message is 2 GB).</summary>
    private const long MaxBytes = int.MaxValue;

    public static ModelProto Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new SurgeonException($"the ONNX file {path} does not exist");
        if (info.Length == 0) throw new SurgeonException($"{path} is empty, not an ONNX model");
        if (info.Length > MaxBytes) throw new SurgeonException($"{path} is {info.Length / 1e9:G3} GB; ONNX files over 2 GB keep their weights as external data");
        return Parse(File.ReadAllBytes(path), path, Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");
    }

    /// <summary>Parses <paramref name="bytes"/>; external data is looked up in <paramref name="directory"/>.</summary>
    public static ModelProto Parse(byte[] bytes, string name, string directory)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SurgeonException($"{name} is not an ONNX model, or is truncated ({FirstLine(e.Message)})", e);
        }
        // Protobuf parses many byte strings without complaint (every field is optional): check that a model is there.
        if (model.IrVersion <= 0 || model.Graph is null || model.Graph.Node.Count == 0)
            throw new SurgeonException($"{name} is not an ONNX model: it has {(model.IrVersion <= 0 ? "no IR version" : model.Graph is null ? "no graph" : "no nodes")}");
        foreach (var opset in model.OpsetImport)
            if (opset.Domain is not ("" or "ai.onnx") && model.Graph.Node.Any(n => n.Domain == opset.Domain))
                throw new SurgeonException($"{name} uses operators of the domain '{opset.Domain}'; Surgeon imports the default ONNX operators only");
        if (model.Graph.SparseInitializer.Count > 0)
            throw new SurgeonException($"{name} has sparse initializers ({model.Graph.SparseInitializer[0].Values?.Name}); Surgeon reads dense ones");
        foreach (var tensor in model.Graph.Initializer)
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
                LoadExternal(tensor, name, directory);
        return model;
    }

    /// <summary>The default domain's operator set version (opset), 1 when the file does not say.</summary>
    public static long Opset(ModelProto model) =>
        model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 1;

    private static void LoadExternal(TensorProto tensor, string name, string directory)
    {
        var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location) || location.Length == 0)
            throw new SurgeonException($"{name}: initializer {tensor.Name} is external data without a location");
        // The location is relative to the model's folder and may not leave it (onnx.proto: no absolute paths, no "..").
        string full = Path.GetFullPath(Path.Combine(directory, location));
        string root = Path.GetFullPath(directory) + Path.DirectorySeparatorChar;
        if (Path.IsPathRooted(location) || !full.StartsWith(root, StringComparison.Ordinal))
            throw new SurgeonException($"{name}: initializer {tensor.Name} points outside the model's folder ({location})");
        if (!File.Exists(full))
            throw new SurgeonException($"{name}: initializer {tensor.Name} is stored in {location}, which does not exist beside the model");
        long offset = entries.TryGetValue("offset", out var o) ? ParseLong(o, tensor.Name, name) : 0;
        long fileLength = new FileInfo(full).Length;
        long length = entries.TryGetValue("length", out var l) ? ParseLong(l, tensor.Name, name) : fileLength - offset;
        if (offset < 0 || length < 0 || offset > fileLength || length > fileLength - offset || length > int.MaxValue)
            throw new SurgeonException($"{name}: initializer {tensor.Name} wants bytes {offset}..{offset + length} of {location}, which has {fileLength}");
        var bytes = new byte[length];
        using (var stream = File.OpenRead(full))
        {
            stream.Seek(offset, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
        }
        tensor.RawData = ByteString.CopyFrom(bytes);
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
        tensor.ExternalData.Clear();
    }

    private static long ParseLong(string text, string tensor, string name) =>
        long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long v) ? v
            : throw new SurgeonException($"{name}: initializer {tensor} has external-data field '{text}', not a whole number");

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
