using Surgeon.Curvature;
using static TorchSharp.torch;

namespace Surgeon.Tests.Curvature;

/// <summary>A Fisher file gives back exactly the matrices written, and its header check names what differs.</summary>
public class FisherFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("fisher-file-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static FisherFileHeader Header(int n, long d) => new(FisherFile.CurrentFormat, "abc123", "mlpnet", "digits", "paper", n, 1, d, [0, 5]);

    [Fact]
    public void RoundTrip_IsBitExact_PerSeed_AcrossChunks()
    {
        // d large enough that a seed's matrix is written in two row chunks (16 Mi floats each: 8 rows of 2M).
        const int n = 10;
        const long d = 2_000_000;
        string path = Path.Combine(dir, "g.fisher");
        using var g0 = randn([n, d], generator: new Generator(1UL));
        using var g5 = randn([n, d], generator: new Generator(2UL));
        FisherFile.Write(path, Header(n, d), [g0, g5]);
        Assert.Equivalent(Header(n, d), FisherFile.ReadHeader(path), strict: true);
        var read = FisherFile.Read(path);
        try
        {
            Assert.Equal([0, 5], read.Keys.Order());
            Assert.True(read[0].eq(g0).all().item<bool>());
            Assert.True(read[5].eq(g5).all().item<bool>());
        }
        finally
        {
            foreach (var t in read.Values) t.Dispose();
        }
    }

    [Fact]
    public void Check_NamesTheFirstDifference()
    {
        var h = Header(100, 32_360);
        FisherFile.Check(h, "f", "ABC123", "digits", "paper", 100, 1, 32_360, [5]); // the hash compares case-blind
        Assert.Contains("another checkpoint", Assert.Throws<SurgeonException>(() => FisherFile.Check(h, "f", "def", "digits", "paper", 100, 1, 32_360, [0])).Message);
        Assert.Contains("N = 100", Assert.Throws<SurgeonException>(() => FisherFile.Check(h, "f", "abc123", "digits", "paper", 200, 1, 32_360, [0])).Message);
        Assert.Contains("averages 1 examples", Assert.Throws<SurgeonException>(() => FisherFile.Check(h, "f", "abc123", "digits", "paper", 100, 4, 32_360, [0])).Message);
        Assert.Contains("the data 'digits'", Assert.Throws<SurgeonException>(() => FisherFile.Check(h, "f", "abc123", "fashion-mnist", "paper", 100, 1, 32_360, [0])).Message);
        Assert.Contains("32,360 weights", Assert.Throws<SurgeonException>(() => FisherFile.Check(h, "f", "abc123", "digits", "all", 100, 1, 40_000, [0])).Message);
        Assert.Contains("needs seed 1", Assert.Throws<SurgeonException>(() => FisherFile.Check(h, "f", "abc123", "digits", "paper", 100, 1, 32_360, [0, 1])).Message);
    }
}
