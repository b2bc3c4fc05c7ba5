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
public sealed record CheckpointInfo
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
/// dataset, seed, accuracy and the weights' SHA-256. Both are written atomically, weights first.
/// </summary>
public static class Checkpoint
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static string SidecarPath(string weightsPath) => weightsPath + ".json";

    public static void Save(string path, nn.Module<Tensor, Tensor> model, CheckpointInfo info)
    {
        info.Compression?.Check(model, path); // a sidecar that does not describe its weights is never written
        AtomicFile.WriteVia(path, temp => model.save(temp));
        var withHash = info with { Format = CheckpointInfo.CurrentFormat, WeightsSha256 = Sha256(path), CreatedUtc = DateTime.UtcNow };
        AtomicFile.WriteAllText(SidecarPath(path), JsonSerializer.Serialize(withHash, Json) + "\n");
    }

    public static CheckpointInfo ReadInfo(string path)
    {
        if (Directory.Exists(path))
            throw new SurgeonException($"{path} is a folder, not a checkpoint; give the weights file written by 'surgeon train' (e.g. {Path.Combine(path, "model.ckpt")})");
        if (!File.Exists(path))
            throw new SurgeonException($"checkpoint not found: {path}");
        string sidecar = SidecarPath(path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && File.Exists(path[..^5]) && !File.Exists(sidecar))
            throw new SurgeonException($"{path} is the sidecar of a checkpoint; give the weights file {path[..^5]}");
        if (!File.Exists(sidecar))
            throw new SurgeonException($"{path} has no sidecar {Path.GetFileName(sidecar)}: is it a checkpoint written by 'surgeon train' or 'surgeon prune'?");
        CheckpointInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<CheckpointInfo>(File.ReadAllText(sidecar), Json);
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{sidecar} is not a valid checkpoint sidecar ({e.Message})", e);
        }
        if (info is null || !CheckpointInfo.ReadableFormats.Contains(info.Format))
            throw new SurgeonException($"{sidecar}: unknown checkpoint format '{info?.Format}' (expected {string.Join(" or ", CheckpointInfo.ReadableFormats)})");
        if (info.Architecture is null || info.InputShape is null || info.Dataset is null)
            throw new SurgeonException($"{sidecar}: the sidecar is incomplete (architecture, inputShape and dataset are required)");
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
        var model = ModelRegistry.Create(info.Spec);
        // Names, dtypes and shapes are checked in C# first, so the message says which tensor does not fit and why.
        WeightsFile.Verify(path, model, Describe(info.Spec));
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
