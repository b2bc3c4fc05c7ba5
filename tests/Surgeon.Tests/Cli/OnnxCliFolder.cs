namespace Surgeon.Tests.Cli;

/// <summary>
/// What the ONNX command-line test classes share: a temporary working folder per test (deleted after it) and, on
/// demand, a small IDX data folder in it (28×28 images, 100 train / 40 test) that fits the ONNX fixtures.
/// </summary>
public abstract class OnnxCliFolder(string prefix) : IDisposable
{
    /// <summary>The test's working folder.</summary>
    protected string Dir { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>The data folder, written the first time it is asked for.</summary>
    protected string Data()
    {
        string data = Path.Combine(Dir, "data");
        if (!Directory.Exists(data)) CliCheckpointFixture.WriteIdxFolder(data, side: 28, train: 100, test: 40);
        return data;
    }

    public void Dispose()
    {
        Directory.Delete(Dir, recursive: true);
        GC.SuppressFinalize(this);
    }
}
