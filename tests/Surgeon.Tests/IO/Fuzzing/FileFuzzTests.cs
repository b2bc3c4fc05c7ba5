namespace Surgeon.Tests.IO.Fuzzing;

/// <summary>
/// Mutated files of every format Surgeon reads (truncated, bit-flipped, overwritten with edge values, header fields
/// grown huge, bytes inserted, deleted, spliced and repeated, numbers in text made extreme; checksummed formats also
/// re-sealed so their parsers are reached): each load succeeds with a valid result or throws SurgeonException with a
/// one-line message, within a time bound and an allocation bound proportional to the file. Deterministic (fixed seed);
/// `dotnet run -c Release --project bench/Surgeon.Bench -- fuzz` runs the same for longer.
/// </summary>
public sealed class FileFuzzTests : IClassFixture<FileFuzzTests.Corpus>
{
    public sealed class Corpus : IDisposable
    {
        public FuzzFormats Formats { get; } = new(Path.Combine(Path.GetTempPath(), "surgeon-fuzz-" + Guid.NewGuid().ToString("N")[..8]));
        public void Dispose() => Formats.Dispose();
    }

    private readonly Corpus corpus;

    public FileFuzzTests(Corpus corpus) => this.corpus = corpus;

    public static TheoryData<string, int> Formats => new()
    {
        { "idx", 1500 },
        { "idx-gz", 1000 },
        { "cifar10", 1000 },
        { "checkpoint-weights", 400 },
        { "checkpoint-sidecar", 600 },
        { "sweep-journal", 1500 },
        { "sweep-json", 1500 },
        { "dynamics-csv", 1500 },
        { "sparse", 1000 },
        { "safetensors", 1000 },
        { "npm-digits", 400 },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public void MutatedFiles_LoadValidly_OrFailWithASurgeonException(string format, int cases)
    {
        var f = corpus.Formats.Formats.Single(x => x.Name == format);
        // The seeds themselves load.
        for (int i = 0; i < f.Seeds.Count; i++) corpus.Formats.Load(f, f.Seeds[i], i);
        var stats = FuzzRunner.Run(corpus.Formats, f, seed: 20261127, cases, TimeSpan.FromSeconds(20), caseTimeout: TimeSpan.FromSeconds(30));
        Assert.True(stats.Failures.Count == 0, string.Join("\n\n", stats.Failures.Take(5)));
        Assert.True(stats.Tried >= Math.Min(cases, 20), $"only {stats.Tried} cases ran");
        Assert.True(stats.Refusals.Count > 0, "no mutated input was refused: the mutations do not reach the reader");
    }
}
