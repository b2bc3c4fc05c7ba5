using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Surgeon.IO;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>What a Fisher file was computed from: any run that reads it must match every field.</summary>
/// <param name="WeightsSha256">The SHA-256 of the dense checkpoint's weights (its sidecar's).</param>
/// <param name="Seeds">One N×d gradient matrix per seed, in this order.</param>
internal sealed record FisherFileHeader(int Format, string WeightsSha256, string Architecture, string Data, string Prunable,
    int N, int ExamplesPerSample, long D, List<int> Seeds);

/// <summary>
/// The per-sample gradients G (N×d float32, one matrix per seed) of a dense checkpoint, computed once by
/// <c>surgeon fisher</c> and read by every point of a grid (<c>--fisher-file</c>), so N workers do not each recompute
/// them. G is all the empirical Fisher keeps of the data: λ and the blocks are applied by the reader, so one file
/// serves any --lambda and --block-size. Layout: the line <c>SURGEON-FISHER 1</c>, the header as one JSON line, the
/// matrices as little-endian float32 row-major, and the line <c>sha256:HEX</c> (of everything before it). A reader
/// checks the header against its run before any work (<see cref="Check"/>) and the checksum while it reads.
/// </summary>
internal static class FisherFile
{
    public const int CurrentFormat = 1;
    private const string Magic = "SURGEON-FISHER 1\n";
    private const int TrailerLength = 7 + 64 + 1; // "sha256:" + hex + "\n"

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Writes the file atomically; <paramref name="gradients"/> are the matrices of <see cref="FisherFileHeader.Seeds"/>, in order.</summary>
    public static void Write(string path, FisherFileHeader header, IReadOnlyList<Tensor> gradients)
    {
        if (!BitConverter.IsLittleEndian) throw new SurgeonException("Fisher files are written on little-endian machines only");
        if (gradients.Count != header.Seeds.Count || gradients.Any(g => g.dtype != ScalarType.Float32 || g.dim() != 2 || g.shape[0] != header.N || g.shape[1] != header.D))
            throw new ArgumentException($"each gradient matrix must be float32 {header.N}×{header.D}, one per seed");
        AtomicFile.Write(path, stream =>
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            void Put(ReadOnlySpan<byte> bytes)
            {
                sha.AppendData(bytes);
                stream.Write(bytes);
            }
            Put(Encoding.ASCII.GetBytes(Magic));
            Put(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header, Json) + "\n"));
            int rows = RowsPerChunk(header.D);
            foreach (var g in gradients)
                for (int r = 0; r < header.N; r += rows)
                {
                    int k = Math.Min(rows, header.N - r);
                    using var chunk = g.narrow(0, r, k).cpu().contiguous();
                    Put(MemoryMarshal.AsBytes(chunk.data<float>().ToArray().AsSpan()));
                }
            stream.Write(Encoding.ASCII.GetBytes($"sha256:{Convert.ToHexStringLower(sha.GetHashAndReset())}\n"));
        });
    }

    /// <summary>The header, read without the matrices; the file's length must be the one the header implies.</summary>
    public static FisherFileHeader ReadHeader(string path)
    {
        using var stream = OpenChecked(path);
        return ReadHeader(stream, path).Header;
    }

    /// <summary>
    /// Refuses, with one line, a file that was not computed for this run: another checkpoint (weights hash), other
    /// data, another prunable set or weight count, another N or examples per sample, or without one of the seeds.
    /// </summary>
    public static void Check(FisherFileHeader h, string path, string weightsSha256, string data, string prunable, int n,
        int examplesPerSample, long d, IEnumerable<int> seeds)
    {
        string again = "compute a Fisher file for this run with 'surgeon fisher'";
        if (!string.Equals(h.WeightsSha256, weightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new SurgeonException($"{path} holds the Fisher of another checkpoint (weights SHA-256 {Short(h.WeightsSha256)}…, this checkpoint's {Short(weightsSha256)}…); {again}");
        if (h.N != n)
            throw new SurgeonException($"{path} holds N = {h.N} per-sample gradients but this run asks --fisher-samples {n}; {again} (or give --fisher-samples {h.N})");
        if (h.ExamplesPerSample != examplesPerSample)
            throw new SurgeonException($"{path} averages {h.ExamplesPerSample} examples per sample but this run asks --examples-per-sample {examplesPerSample}; {again}");
        if (h.Data != data)
            throw new SurgeonException($"{path} was computed on the data '{h.Data}' but this run uses '{data}'; {again}");
        if (h.Prunable != prunable || h.D != d)
            throw new SurgeonException($"{path} holds gradients of {h.D:N0} weights (--prunable {h.Prunable}) but this run prunes {d:N0} (--prunable {prunable}); {again}");
        var missing = seeds.Where(s => !h.Seeds.Contains(s)).ToList();
        if (missing.Count > 0)
            throw new SurgeonException($"{path} holds the seeds {string.Join(",", h.Seeds)} but this run needs seed {string.Join(",", missing)}; {again} (--seeds)");
    }

    /// <summary>Reads every matrix (seed → N×d float32 on the CPU), verifying the checksum; the caller owns the tensors.</summary>
    public static Dictionary<int, Tensor> Read(string path)
    {
        using var stream = OpenChecked(path);
        var (h, headerBytes) = ReadHeader(stream, path);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(headerBytes);
        var result = new Dictionary<int, Tensor>();
        try
        {
            int rows = RowsPerChunk(h.D);
            foreach (int seed in h.Seeds)
            {
                var g = empty([h.N, h.D], ScalarType.Float32);
                result[seed] = g;
                for (int r = 0; r < h.N; r += rows)
                {
                    int k = Math.Min(rows, h.N - r);
                    var values = new float[checked(k * (int)h.D)];
                    var bytes = MemoryMarshal.AsBytes(values.AsSpan());
                    stream.ReadExactly(bytes);
                    sha.AppendData(bytes);
                    using var chunk = tensor(values, [k, h.D]);
                    g.narrow(0, r, k).copy_(chunk);
                }
            }
            var trailer = new byte[TrailerLength];
            stream.ReadExactly(trailer);
            string expected = $"sha256:{Convert.ToHexStringLower(sha.GetHashAndReset())}\n";
            if (Encoding.ASCII.GetString(trailer) != expected)
                throw new SurgeonException($"{path} is damaged: its SHA-256 does not match its contents (changed or cut short since 'surgeon fisher' wrote it)");
            return result;
        }
        catch
        {
            foreach (var g in result.Values) g.Dispose();
            throw;
        }
    }

    private static FileStream OpenChecked(string path)
    {
        if (!File.Exists(path))
            throw new SurgeonException(Directory.Exists(path) ? $"{path} is a folder, not a Fisher file" : $"Fisher file not found: {path}");
        return InputFiles.OpenRead(path, "Fisher file");
    }

    private static (FisherFileHeader Header, byte[] Bytes) ReadHeader(FileStream stream, string path)
    {
        string notOne = $"{path} is not a Fisher file written by 'surgeon fisher'";
        var magic = new byte[Magic.Length];
        if (stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) != magic.Length || Encoding.ASCII.GetString(magic) != Magic)
            throw new SurgeonException(notOne);
        var line = new List<byte>();
        for (int b; (b = stream.ReadByte()) != '\n';)
        {
            if (b < 0 || line.Count > 1 << 16) throw new SurgeonException($"{notOne} (its header line is cut short or too long)");
            line.Add((byte)b);
        }
        FisherFileHeader? h;
        try
        {
            h = JsonSerializer.Deserialize<FisherFileHeader>(line.ToArray(), Json);
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{notOne} ({JsonErrors.OneLine(e)})", e);
        }
        if (h is null || h.Seeds is null || h.WeightsSha256 is null || h.Data is null || h.Prunable is null || h.N < 1 || h.D < 1 || h.Seeds.Count < 1)
            throw new SurgeonException($"{notOne} (its header lacks a field)");
        if (h.Format != CurrentFormat)
            throw new SurgeonException($"{path} is a Fisher file of format {h.Format}; this surgeon reads format {CurrentFormat}");
        long headerLength = magic.Length + line.Count + 1;
        long expected = headerLength + (long)h.Seeds.Count * h.N * h.D * sizeof(float) + TrailerLength;
        if (stream.Length != expected)
            throw new SurgeonException($"{path} is damaged: {stream.Length:N0} bytes where its header implies {expected:N0} (cut short or changed)");
        return (h, [.. magic, .. line, (byte)'\n']);
    }

    private static int RowsPerChunk(long d) => (int)Math.Max(1, (16L << 20) / d);

    private static string Short(string sha) => sha.Length > 12 ? sha[..12] : sha;
}
