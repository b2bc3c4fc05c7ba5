using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Surgeon.Compression;
using Surgeon.IO;

namespace Surgeon.Pruning;

/// <summary>One point of a plan: its place in the grid and the digest of its whole configuration.</summary>
internal sealed record SweepPlanPoint(int Index, string Method, double Sparsity, int Seed, string Digest)
{
    public string Describe() =>
        $"#{Index.ToString(CultureInfo.InvariantCulture)} {Method} at sparsity {JsonNumbers.Text(Sparsity)} (seed {Seed.ToString(CultureInfo.InvariantCulture)})";
}

/// <summary>
/// A sweep written down before it runs (<c>surgeon sweep … --plan-only</c>, the file <see cref="FileName"/> in its
/// folder), so that any number of workers, on one machine or on a cluster's nodes over shared storage, run its points
/// (<c>--point I</c>, <c>--shard I/N</c>, or all that are left). The points are the grid methods × sparsities × seeds
/// in the order a local sweep computes them (seed, then method, then sparsity). Each point carries the SHA-256
/// <see cref="SweepPlanPoint.Digest"/> of its configuration: the journal key (weights hash, data, options, prunable set,
/// test subset), its method, sparsity and seed, the BatchNorm recalibration, and the plan's own settings (checkpoint
/// path, data, options, prunable set, test subset); a plan whose points or settings were
/// edited by hand no longer matches its digests and is refused when read, and a worker recomputes the key from the
/// checkpoint it loads, so a checkpoint replaced since the plan is refused too.
/// </summary>
internal sealed record SweepPlan
{
    public const string FileName = "plan.json";
    public const int CurrentFormat = 1;

    public int Format { get; init; } = CurrentFormat;
    /// <summary>The dense checkpoint, as an absolute path (workers on other nodes read it over shared storage).</summary>
    public required string Checkpoint { get; init; }
    public required string Data { get; init; }
    public required List<string> Methods { get; init; }
    public required List<double> Sparsities { get; init; }
    public required List<int> Seeds { get; init; }
    public required PruningOptions Options { get; init; }
    public required PrunableSet Prunable { get; init; }
    /// <summary>Samples of the BatchNorm recalibration after each point (0 = off, also for a model without BatchNorm).</summary>
    public int RecalibrateBnSamples { get; init; }
    public int TestSubset { get; init; }
    /// <summary>The Fisher file (absolute path) every worker reads instead of computing the per-sample gradients, or null.
    /// Not part of the digests: it changes no result (a worker checks it against the checkpoint, N and seeds).</summary>
    public string? FisherFile { get; init; }
    /// <summary>The journal key of every point (<see cref="SweepKey"/>).</summary>
    public required string Key { get; init; }
    /// <summary>The dense model's test result, measured when the plan was written (for the report's dense row).</summary>
    public required double DenseAccuracy { get; init; }
    public required double DenseLoss { get; init; }
    public required List<SweepPlanPoint> Points { get; init; }

    private static readonly JsonSerializerOptions Json = JsonNumbers.With(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    });

    /// <summary>The plan of the grid, its points numbered in the order a local sweep computes them.</summary>
    public static SweepPlan Create(string checkpoint, string data, IReadOnlyList<string> methods, IReadOnlyList<double> sparsities,
        IReadOnlyList<int> seeds, PruningOptions options, PrunableSet prunable, int recalibrateBnSamples, int testSubset,
        string key, double denseAccuracy, double denseLoss)
    {
        var plan = new SweepPlan
        {
            Checkpoint = Path.GetFullPath(checkpoint),
            Data = data,
            Methods = [.. methods],
            Sparsities = [.. sparsities],
            Seeds = [.. seeds],
            Options = options,
            Prunable = prunable,
            RecalibrateBnSamples = recalibrateBnSamples,
            TestSubset = testSubset,
            Key = key,
            DenseAccuracy = denseAccuracy,
            DenseLoss = denseLoss,
            Points = [],
        };
        return plan with { Points = plan.Grid().ToList() };
    }

    /// <summary>The points the settings define, each with the digest it must have.</summary>
    private IEnumerable<SweepPlanPoint> Grid()
    {
        int index = 0;
        foreach (int seed in Seeds)
            foreach (string method in Methods)
                foreach (double sparsity in Sparsities)
                    yield return new SweepPlanPoint(index++, method, sparsity, seed, Digest(method, sparsity, seed));
    }

    private string Digest(string method, double sparsity, int seed)
    {
        string text = string.Join('\n', Key, method, JsonNumbers.Text(sparsity), seed.ToString(CultureInfo.InvariantCulture),
            $"recalibrate-bn={RecalibrateBnSamples.ToString(CultureInfo.InvariantCulture)}", Checkpoint, Data, Options.ToString(),
            Prunable.ToString(), $"test-subset={TestSubset.ToString(CultureInfo.InvariantCulture)}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    /// <summary>
    /// Reads and checks a plan: its format, that its settings are valid, and that its points are exactly the grid
    /// of its settings with the digests they define.
    /// </summary>
    /// <exception cref="SurgeonException">One line naming the file and what is wrong.</exception>
    public static SweepPlan Load(string path)
    {
        if (!File.Exists(path))
            throw new SurgeonException($"no sweep plan at {path}; write one with 'surgeon sweep --checkpoint C … --out-dir {Path.GetDirectoryName(path)} --plan-only'");
        string again = "write a new one with 'surgeon sweep … --plan-only' (into an empty --out-dir)";
        SweepPlan? plan;
        try
        {
            plan = JsonSerializer.Deserialize<SweepPlan>(InputFiles.ReadAllBytes(path, "sweep plan"), Json);
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{path} is not a sweep plan written by 'surgeon sweep --plan-only' ({JsonErrors.OneLine(e)})", e);
        }
        if (plan is null || plan.Points is null || plan.Methods is null || plan.Sparsities is null || plan.Seeds is null || plan.Options is null)
            throw new SurgeonException($"{path} is not a sweep plan written by 'surgeon sweep --plan-only'");
        if (plan.Format != CurrentFormat)
            throw new SurgeonException($"{path} is a sweep plan of format {plan.Format}; this surgeon reads format {CurrentFormat}: {again}");
        try
        {
            plan.Options.Validate();
            foreach (var s in plan.Sparsities) SparsityTarget.Validate(s);
        }
        catch (SurgeonException e)
        {
            throw new SurgeonException($"{path}: {e.Message}", e);
        }
        var expected = plan.Grid().ToList();
        if (expected.Count != plan.Points.Count)
            throw new SurgeonException($"{path} lists {plan.Points.Count} points but its settings make {expected.Count}: the plan was edited by hand; {again}");
        for (int i = 0; i < expected.Count; i++)
            if (plan.Points[i] != expected[i])
                throw new SurgeonException($"{path}: point {i} ({plan.Points[i]?.Describe() ?? "null"}) does not match its digest and settings: the plan was edited by hand; {again}");
        return plan;
    }

    /// <summary>The folder of the claims, beside the plan.</summary>
    public const string ClaimsFolder = "claims";

    /// <summary>
    /// The lock file of point <paramref name="index"/>'s claim: a worker holds an exclusive OS lock on it from before
    /// it checks the journal for the point until the point's line is appended, so no two workers compute one point;
    /// the kernel releases it when the worker dies (see <see cref="ExclusiveFileLock"/>).
    /// </summary>
    public static string ClaimPath(string folder, int index) =>
        Path.Combine(folder, ClaimsFolder, $"{index.ToString("D4", CultureInfo.InvariantCulture)}.lock");

    /// <summary>The lock that serialises the workers' appends to the journal (see <c>SweepJournal</c>).</summary>
    public static string JournalLockPath(string folder) => Path.Combine(folder, ClaimsFolder, "journal.lock");

    /// <summary>The settings as a sweep report's configuration.</summary>
    public Dictionary<string, string> Config() => new()
    {
        ["checkpoint"] = Checkpoint,
        ["data"] = Data,
        ["methods"] = string.Join(",", Methods),
        ["sparsities"] = string.Join(",", Sparsities.Select(JsonNumbers.Text)),
        ["seeds"] = string.Join(",", Seeds),
        ["fisherSamples"] = Options.FisherSamples.ToString(CultureInfo.InvariantCulture),
        ["lambda"] = JsonNumbers.Text(Options.Lambda),
        ["blockSize"] = Options.BlockSize.ToString(CultureInfo.InvariantCulture),
        ["examplesPerSample"] = Options.ExamplesPerSample.ToString(CultureInfo.InvariantCulture),
        ["recalibrateBnSamples"] = RecalibrateBnSamples.ToString(CultureInfo.InvariantCulture),
        ["prunable"] = Prunable.ToString().ToLowerInvariant(),
        ["plan"] = FileName,
    };

    /// <summary>The points of shard <paramref name="shard"/> of <paramref name="count"/>: those whose index ≡ shard (mod count).</summary>
    public IReadOnlyList<SweepPlanPoint> Shard(int shard, int count) => Points.Where(p => p.Index % count == shard).ToList();
}
