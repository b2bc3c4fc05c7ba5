using PublicApiGenerator;

namespace Surgeon.Tests.Api;

/// <summary>
/// The library's public surface is deliberate: the facade (Surgeon.Api.CompressionSession) and the extension points
/// (score, rule, joint selection, update, training modifier, the context they read). It is recorded in
/// Surgeon.public-api.txt beside this file; a public member added, removed or changed without recording it fails here.
/// To record a deliberate change: SURGEON_ACCEPT_API=1 dotnet test --filter PublicApiTests, then review the diff.
/// </summary>
public class PublicApiTests
{
    private static string RecordedPath([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.Combine(Path.GetDirectoryName(here)!, "Surgeon.public-api.txt");

    private static string Current() =>
        typeof(SurgeonException).Assembly.GeneratePublicApi(new ApiGeneratorOptions { IncludeAssemblyAttributes = false }).ReplaceLineEndings("\n");

    [Fact]
    public void ThePublicSurfaceIsTheRecordedOne()
    {
        string current = Current();
        if (Environment.GetEnvironmentVariable("SURGEON_ACCEPT_API") == "1")
            File.WriteAllText(RecordedPath(), current);
        string recorded = File.Exists(RecordedPath()) ? File.ReadAllText(RecordedPath()).ReplaceLineEndings("\n") : "";
        var difference = Difference(recorded, current);
        Assert.True(recorded == current,
            "the public API changed; if deliberate, record it (SURGEON_ACCEPT_API=1 dotnet test --filter PublicApiTests):\n" +
            string.Join("\n", difference.Count > 0 ? difference.Take(40) : ["(the same lines in another order)"]));
    }

    [Fact]
    public void AMemberAddedWithoutRecordingIt_IsReported()
    {
        // The comparison itself, on the real surface: drop one recorded member line, as if it had been added to the code
        // since, and the difference must name it.
        string current = Current();
        var lines = current.Split('\n');
        string member = lines.First(l => l.Contains("public Surgeon.Api.PruneSummary Prune(string method", StringComparison.Ordinal));
        string recorded = string.Join('\n', lines.Where(l => l != member));
        Assert.Equal(["+ " + member.Trim()], Difference(recorded, current));
        Assert.Empty(Difference(current, current));
    }

    [Fact]
    public void OnlyTheFacadeAndTheExtensionPointsArePublic()
    {
        // Every implementation stays internal: the public types are the recorded few, none of the registry's stages.
        var exported = typeof(SurgeonException).Assembly.GetExportedTypes().Select(t => t.FullName!).ToList();
        Assert.Contains("Surgeon.Api.CompressionSession", exported);
        Assert.Contains("Surgeon.Compression.IScore", exported);
        Assert.Contains("Surgeon.Training.TrainingModifier", exported);
        Assert.DoesNotContain("Surgeon.Selection.CbsSelection", exported);
        Assert.DoesNotContain("Surgeon.Training.Checkpoint", exported);
        Assert.True(exported.Count <= 60, $"{exported.Count} public types: " + string.Join(", ", exported));
    }

    /// <summary>Lines only in <paramref name="current"/> ("+ …") or only in <paramref name="recorded"/> ("- …").</summary>
    private static List<string> Difference(string recorded, string current)
    {
        var was = recorded.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 1).ToHashSet();
        var now = current.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 1).ToHashSet();
        return [.. now.Except(was).Select(l => "+ " + l), .. was.Except(now).Select(l => "- " + l)];
    }
}
