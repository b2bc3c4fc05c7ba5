using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Surgeon.Compression;
using Surgeon.IO;
using Surgeon.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Training;

/// <summary>What the JSON sidecar of a checkpoint records.</summary>
internal sealed record CheckpointInfo
{
    /// <summary>Version 2 adds <see cref="Compression"/> and <see cref="Recipe"/>; version 1 sidecars still load.</summary>
    public const string CurrentFormat = "surgeon-checkpoint/2";
    public static readonly string[] ReadableFormats = ["surgeon-checkpoint/1", CurrentFormat];
    public string Format { get; init; } = CurrentFormat;
    public required string Architecture { get; init; }
    public required int[] InputShape { get; init; }
    public required int NumClasses { get; init; }
    public double Width { get; init; } = 1.0;
    /// <summary>Channel count per filter group of a structurally pruned model (see <see cref="ModelSpec.Channels"/>);
    /// absent for a model at its width-derived size, so older sidecars load unchanged.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int[]? Channels { get; init; }
    public required string Dataset { get; init; }
    public int Seed { get; init; }
    public double? TestAccuracy { get; init; }
    public double? TestLoss { get; init; }
    public double Sparsity { get; init; }
    public string? PruningMethod { get; init; }
    /// <summary>SHA-256 of the weights file, so a truncated or modified file is caught before it is loaded.</summary>
    public string WeightsSha256 { get; init; } = "";
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
    public Dictionary<string, string> Notes { get; init; } = [];
    /// <summary>Per tensor, its mask (and room for its quantisation and factorised form); null for a model with none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public CompressionState? Compression { get; init; }
    /// <summary>The recipe (YAML) of the training run that made these weights, when one did (train, finetune).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Recipe { get; init; }

    [JsonIgnore]
    public ModelSpec Spec => new(Architecture, InputShape, NumClasses, Width, Channels);

    /// <summary>
    /// What no checkpoint Surgeon writes can hold, or null: a missing architecture, input shape or dataset, an input
    /// shape that is not C×H×W with positive sizes, fewer than 2 classes, a width that is not a finite positive number, a
    /// channel count below 1, a sparsity or accuracy outside [0, 1], a negative loss. A test loss of +∞ or NaN is a
    /// result (a model whose outputs overflow), written as "Infinity" / "NaN" (see <see cref="JsonNumbers"/>).
    /// </summary>
    public string? Problem()
    {
        if (string.IsNullOrEmpty(Architecture) || InputShape is null || Dataset is null)
            return "it lacks the architecture, inputShape or dataset";
        if (InputShape.Length != 3 || InputShape.Any(d => d <= 0))
            return $"its inputShape [{string.Join(", ", InputShape)}] is not C×H×W with positive sizes";
        if (NumClasses < 2)
            return $"its numClasses is {NumClasses}; a classifier has at least 2";
        if (Channels is not null && Channels.Any(c => c < 1))
            return $"its channels [{string.Join(", ", Channels)}] list a count below 1";
        if (Compression?.Problem() is { } compression)
            return compression;
        return JsonNumbers.First(
            JsonNumbers.Positive("its width", Width),
            JsonNumbers.Fraction("its sparsity", Sparsity),
            TestAccuracy is { } a ? JsonNumbers.Fraction("its testAccuracy", a) : null,
            TestLoss is { } l ? JsonNumbers.Loss("its testLoss", l) : null);
    }

    /// <summary>
    /// Refuses data the checkpoint's model cannot take: samples of another shape than its input, or more classes than it
    /// predicts (fewer is fine: a model of 10 classes evaluates on a 2-class subset). Every command and
    /// <c>CompressionSession.FromCheckpoint</c> check this before any work; <c>OnnxGraphModel.EnsureFits</c> is its twin.
    /// </summary>
    public void EnsureFits(Data.ImageDataset data)
    {
        if (!InputShape.AsSpan().SequenceEqual(data.SampleShape))
            throw new SurgeonException($"the checkpoint expects {string.Join('×', InputShape)} inputs but {data.Name} has {string.Join('×', data.SampleShape)}; pick the dataset it was trained on ({Dataset})");
        if (data.NumClasses > NumClasses)
            throw new SurgeonException($"{data.Name} has {data.NumClasses} classes but the checkpoint predicts {NumClasses}");
    }

    /// <summary>This record describing <paramref name="spec"/> instead (e.g. the spec of a shrunk model).</summary>
    public CheckpointInfo WithSpec(ModelSpec spec) => this with
    {
        Architecture = spec.Architecture,
        InputShape = spec.InputShape,
        NumClasses = spec.NumClasses,
        Width = spec.Width,
        Channels = spec.Channels,
    };
}

/// <summary>
/// A checkpoint is the TorchSharp weights file plus a JSON sidecar (<c>PATH.json</c>) with the architecture,
/// dataset, seed, accuracy and the weights' SHA-256. Both appear together or neither (one <see cref="AtomicFileSet"/>).
/// </summary>
internal static class Checkpoint
{
    private static readonly JsonSerializerOptions Json = JsonNumbers.With(new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    });

    public static string SidecarPath(string weightsPath) => weightsPath + ".json";

    /// <summary>The training dynamics 'surgeon train' writes beside a checkpoint: PATH.dynamics.csv and PATH.dynamics.png.</summary>
    public static string DynamicsCsvPath(string weightsPath) => weightsPath + ".dynamics.csv";

    public static string DynamicsPngPath(string weightsPath) => weightsPath + ".dynamics.png";

    /// <summary>A checkpoint read by a run, with the files derived from it that no output may replace.</summary>
    public static RunPaths ReadsCheckpoint(this RunPaths paths, string path, string role = "the input checkpoint") =>
        paths.Reads(path, $"{role} {path}")
            .Reads(SidecarPath(path), $"the sidecar of {role} {path}")
            .Reads(DynamicsCsvPath(path), $"the training dynamics of {role} {path}")
            .Reads(DynamicsPngPath(path), $"the dynamics plot of {role} {path}");

    /// <summary>A checkpoint written by a run: the weights and the sidecar (and train's dynamics files, with <paramref name="dynamics"/>).</summary>
    public static RunPaths WritesCheckpoint(this RunPaths paths, string path, string option, bool dynamics = false)
    {
        paths.Writes(path, option);
        if (string.IsNullOrEmpty(path)) return paths;
        paths.Writes(SidecarPath(path), $"the sidecar of {option} {path}");
        return dynamics
            ? paths.Writes(DynamicsCsvPath(path), $"the dynamics of {option} {path}").Writes(DynamicsPngPath(path), $"the dynamics plot of {option} {path}")
            : paths;
    }

    /// <summary>Writes the weights and the sidecar, together (see <see cref="Stage"/>).</summary>
    public static void Save(string path, nn.Module<Tensor, Tensor> model, CheckpointInfo info)
    {
        using var files = new AtomicFileSet();
        Stage(files, path, model, info);
        files.Commit();
    }

    /// <summary>Writes the weights and the sidecar into <paramref name="files"/>, to appear when it is committed. A
    /// description no checkpoint can hold (<see cref="CheckpointInfo.Problem"/>), NaN or infinite weights, or a
    /// compression state that does not describe the weights are refused before anything is written: Surgeon writes
    /// only checkpoints it can load. The sidecar is written in the current format.</summary>
    public static void Stage(AtomicFileSet files, string path, nn.Module<Tensor, Tensor> model, CheckpointInfo info)
    {
        if (info.Problem() is { } problem)
            throw new SurgeonException($"cannot write the checkpoint {path}: {problem}");
        EnsureFinite(model, $"cannot write the checkpoint {path}");
        info.Compression?.Check(model, path); // a sidecar that does not describe its weights is never written
        string weights = files.WriteVia(path, temp => model.save(temp));
        var withHash = info with { Format = CheckpointInfo.CurrentFormat, WeightsSha256 = Sha256(weights), CreatedUtc = DateTime.UtcNow };
        files.WriteText(SidecarPath(path), JsonSerializer.Serialize(withHash, Json) + "\n");
    }

    public static CheckpointInfo ReadInfo(string path)
    {
        InputFiles.Check(path, "checkpoint");
        if (Directory.Exists(path))
            throw new SurgeonException($"{path} is a folder, not a checkpoint; give the weights file written by 'surgeon train' (e.g. {Path.Combine(path, "model.ckpt")})");
        if (!File.Exists(path))
            throw new SurgeonException($"checkpoint not found: {path}");
        string sidecar = SidecarPath(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && File.Exists(path[..^5]) && !File.Exists(sidecar))
            throw new SurgeonException($"{path} is the sidecar of a checkpoint; give the weights file {path[..^5]}");
        if (!File.Exists(sidecar))
            throw new SurgeonException($"{path} has no sidecar {Path.GetFileName(sidecar)}: is it a checkpoint written by 'surgeon train' or 'surgeon prune'?");
        InputFiles.Check(sidecar, "checkpoint sidecar");
        CheckpointInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<CheckpointInfo>(File.ReadAllText(sidecar), Json);
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{sidecar} is not a valid checkpoint sidecar ({IO.JsonErrors.OneLine(e)})", e);
        }
        if (info is null || !CheckpointInfo.ReadableFormats.Contains(info.Format))
            throw new SurgeonException($"{sidecar}: unknown checkpoint format '{info?.Format}' (expected {string.Join(" or ", CheckpointInfo.ReadableFormats)})");
        if (info.Architecture is null || info.InputShape is null || info.Dataset is null)
            throw new SurgeonException($"{sidecar}: the sidecar is incomplete (architecture, inputShape and dataset are required)");
        if (info.Problem() is { } problem)
            throw new SurgeonException($"{sidecar}: the sidecar is impossible: {problem}; re-create the checkpoint or restore its sidecar");
        return info;
    }

    /// <summary>Loads a checkpoint, checking the weights' hash, the architecture and that no weight is NaN or infinite.</summary>
    public static (nn.Module<Tensor, Tensor> Model, CheckpointInfo Info) Load(string path, Device? device = null,
        string? expectedArchitecture = null)
    {
        var info = ReadInfo(path);
        if (expectedArchitecture is not null && !expectedArchitecture.Equals(info.Architecture, StringComparison.OrdinalIgnoreCase))
            throw new SurgeonException($"{path} holds a {info.Architecture}, not a {expectedArchitecture}; drop --model or pick the right checkpoint");
        string actual = Sha256(path);
        if (!string.Equals(actual, info.WeightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new SurgeonException($"{path} is corrupt or was modified: its SHA-256 does not match the sidecar; re-create it");
        // Names, dtypes and shapes are checked in C# first, against the model the sidecar describes built without
        // storage, so the message says which tensor does not fit and why, and a sidecar that describes a far larger
        // model than the weights file holds allocates nothing.
        WeightsFile.Verify(path, ModelRegistry.StateOf(info.Spec), Describe(info.Spec));
        var model = ModelRegistry.Create(info.Spec);
        try
        {
            model.load(path, strict: true);
        }
        catch (Exception e) when (e is not SurgeonException)
        {
            throw new SurgeonException($"{path} does not fit a {info.Architecture} {info.Spec.InputShapeText}: {e.Message}", e);
        }
        if (device is not null && device.type != DeviceType.CPU)
            model.to(device);
        model.eval();
        EnsureFinite(model, path);
        info.Compression?.Check(model, path);
        return (model, info);
    }

    public static void EnsureFinite(nn.Module model, string what)
    {
        using var scope = NewDisposeScope();
        foreach (var (name, p) in model.named_parameters())
            if (!p.isfinite().all().item<bool>())
                throw new SurgeonException($"{what}: parameter {name} contains NaN or infinite values; the model is unusable, retrain it");
    }

    private static string Describe(ModelSpec spec) =>
        $"{spec.Architecture} (width {spec.Width.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)}{(spec.Channels is null ? "" : $", channels {string.Join(',', spec.Channels)}")}, " +
        $"{spec.InputShapeText} inputs, {spec.NumClasses} classes)";

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }
}
