using System.Globalization;
using Surgeon.IO;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Export.Sparse;

/// <summary>Sizes of one sparse export: the file, and the dense weights file and its gzip for comparison.</summary>
internal sealed record SparseSizeReport(long SparseBytes, long DenseBytes, long GzipBytes, long StoredValues, long Elements,
    IReadOnlyDictionary<SparseEncoding, int> TensorsByEncoding, int QuantizedTensors = 0);

/// <summary><c>surgeon export --format sparse</c>: the model's whole state in a sparse file, with a size report.</summary>
internal static class SparseExport
{
    /// <summary>
    /// Writes the file; tensors named in <paramref name="quantizations"/> (by state-dict name, their values already on
    /// that grid, e.g. from <see cref="Quantization.WeightQuantizer.QuantizeWeights"/>) are stored as b-bit codes.
    /// </summary>
    public static SparseSizeReport WriteFile(nn.Module model, CheckpointInfo info, string path,
        IReadOnlyDictionary<string, Compression.TensorQuantization>? quantizations = null)
    {
        var tensors = ModelState.Read(model);
        var (bytes, entries) = SparseFile.Build(info, tensors, quantizations);
        var (dense, gzip) = DenseSizes.Measure(model);
        AtomicFile.WriteAllBytes(path, bytes); // last, so that nothing is written when anything before fails
        var byEncoding = Enum.GetValues<SparseEncoding>().ToDictionary(e => e,
            e => entries.Count(x => x.Encoding == SparseBlocks.Name(e)));
        return new SparseSizeReport(bytes.LongLength, dense, gzip, entries.Sum(e => e.Stored), tensors.Sum(t => t.Elements), byEncoding,
            entries.Count(e => e.Quantization is not null));
    }

    public static ExportResult Write(nn.Module<Tensor, Tensor> model, CheckpointInfo info, string path)
    {
        // A quantised checkpoint is stored as b-bit codes of its own (unfolded) weights: see QuantizedCheckpoint.QuantizeInPlace.
        var quantizations = info.Compression?.Quantization is null ? null
            : Quantization.QuantizedCheckpoint.QuantizeInPlace(model, info.Compression, "the checkpoint");
        var r = WriteFile(model, info, path, quantizations);
        return new ExportResult(path, r.SparseBytes, Describe(r));
    }

    /// <param name="dense">What the dense yardstick is (a checkpoint's weights file, or an imported graph's ONNX file).</param>
    public static string Describe(SparseSizeReport r, string dense = "dense weights file")
    {
        var c = CultureInfo.InvariantCulture;
        string encodings = string.Join(", ", r.TensorsByEncoding.Where(kv => kv.Value > 0).Select(kv => $"{kv.Value} {SparseBlocks.Name(kv.Key)}"));
        string quantized = r.QuantizedTensors == 0 ? "" : $", {r.QuantizedTensors} of them quantised";
        bool plain = r.QuantizedTensors == 0 && r.TensorsByEncoding.GetValueOrDefault(SparseEncoding.TwoOfFour) == 0;
        return $"sparse v{(plain ? SparseFile.PlainVersion : SparseFile.Version)}, {r.TensorsByEncoding.Values.Sum()} tensors ({encodings}{quantized}), " +
            $"{r.StoredValues.ToString("N0", c)} of {r.Elements.ToString("N0", c)} values stored; " +
            $"{dense} {r.DenseBytes.ToString("N0", c)} bytes, its gzip {r.GzipBytes.ToString("N0", c)} bytes: " +
            $"this file is {Percent(r.SparseBytes, r.DenseBytes)} of the dense file and {Percent(r.SparseBytes, r.GzipBytes)} of its gzip";
    }

    private static string Percent(long part, long whole) =>
        (100.0 * part / whole).ToString("F1", CultureInfo.InvariantCulture) + " %";
}
