using Surgeon.Export;
using Surgeon.Export.Sparse;
using Surgeon.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>A sparse file whose header describes another model than its tensors is refused with the tensor that does not fit.</summary>
public class SparseImportTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sparse-import-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static readonly CheckpointInfo Tiny = new() { Architecture = "mlpnet", InputShape = [1, 2, 2], NumClasses = 2, Width = 0.05, Dataset = "random" };

    private string WriteTinyAs(CheckpointInfo described, Func<IReadOnlyList<StateTensor>, IReadOnlyList<StateTensor>>? edit = null)
    {
        manual_seed(1);
        using var model = ModelRegistry.Create(Tiny.Spec);
        var tensors = ModelState.Read(model);
        string path = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".sparse");
        File.WriteAllBytes(path, SparseFile.Build(described, edit?.Invoke(tensors) ?? tensors).Bytes);
        return path;
    }

    [Fact]
    public void AHeaderOfAnotherWidth_IsRefused()
    {
        string path = WriteTinyAs(Tiny with { Width = 0.1 });
        var e = Assert.Throws<SurgeonException>(() => SparseImport.Read(new ImportRequest("sparse", path)));
        Assert.Equal($"{path}: fc1.weight is F32 2×4 but a mlpnet (width 0.1, 1x2x2 inputs, 2 classes) needs F32 4×4; re-export it", e.Message);
    }

    [Fact]
    public void MissingOrExtraTensors_AreRefused()
    {
        string path = WriteTinyAs(Tiny, ts => [.. ts.Skip(1), new StateTensor("fc9.bias", "F32", [1], new byte[4])]);
        var e = Assert.Throws<SurgeonException>(() => SparseImport.Read(new ImportRequest("sparse", path)));
        Assert.Equal($"{path} does not hold the state of the mlpnet (width 0.05, 1x2x2 inputs, 2 classes) its header describes (unexpected fc9.bias; missing fc1.weight); re-export it", e.Message);
    }

    [Fact]
    public void AnUnknownArchitecture_IsNamed()
    {
        string path = WriteTinyAs(Tiny with { Architecture = "mlp9000" });
        Assert.StartsWith("unknown model 'mlp9000'", Assert.Throws<SurgeonException>(() => SparseImport.Read(new ImportRequest("sparse", path))).Message);
    }
}
