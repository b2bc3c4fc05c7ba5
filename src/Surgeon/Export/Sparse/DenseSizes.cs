using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Export.Sparse;

/// <summary>
/// What a model takes on disk without sparse storage: the TorchSharp weights file a checkpoint holds (the same bytes
/// <see cref="Training.Checkpoint.Save"/> writes) and that file compressed with gzip at the optimal level, the yardsticks
/// the sparse file is measured against.
/// </summary>
internal static class DenseSizes
{
    public static (long Dense, long Gzip) Measure(nn.Module model)
    {
        byte[] dense = DenseBytes(model);
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            gzip.Write(dense);
        return (dense.LongLength, compressed.Length);
    }

    public static byte[] DenseBytes(nn.Module model)
    {
        using var stream = new MemoryStream();
        model.save(stream);
        return stream.ToArray();
    }
}
