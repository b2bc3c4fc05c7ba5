using Surgeon.Export;
using Surgeon.Export.Onnx;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Models;
using Surgeon.Tests.Models.Onnx;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>
/// <see cref="OnnxGraphWeights.Import"/>, the read-back of an imported graph's safetensors and sparse weights: a missing
/// tensor is an error unless allowed, and then keeps the graph's own value; a sparse file of a registry model, or with a
/// tensor the graph lacks, is one line before any block is decoded; nothing is loaded unless everything fits.
/// </summary>
public class OnnxGraphWeightsImportTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("onnx-weights-import-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AMissingTensor_IsAnError_UnlessAllowed_ThenItKeepsTheGraphsValue()
    {
        using var scope = NewDisposeScope();
        using var source = ImportFixtures.Load("mlp");
        using (no_grad())
            foreach (var p in source.parameters()) p.mul_(tensor(2f)); // other values than the fixture's
        var tensors = OnnxGraphWeights.Read(source);
        string path = Path.Combine(dir, "w.safetensors");
        File.WriteAllBytes(path, SafetensorsWriter.Build(tensors.Where(t => t.Name != "b2").ToList(), new Dictionary<string, string>()));

        using var model = ImportFixtures.Load("mlp");
        var before = OnnxGraphWeights.Read(model).ToDictionary(t => t.Name, t => t.Data);
        var e = Assert.Throws<SurgeonException>(() => OnnxGraphWeights.Import(model, "safetensors", path));
        Assert.Contains("does not fit mlp.onnx (an ONNX graph of 1x28x28 inputs and 10 classes): 0 mis-shaped, 1 missing (b2), 0 unexpected", e.Message);
        Assert.Contains("--allow-missing", e.Message);
        Assert.All(OnnxGraphWeights.Read(model), t => Assert.Equal(before[t.Name], t.Data)); // nothing loaded

        var report = OnnxGraphWeights.Import(model, "safetensors", path, allowMissing: true);
        Assert.Equal(["loaded 5 of the model's 6 tensors by name", "missing (kept at the graph's values): b2", "unexpected: none", "mis-shaped: none"], report);
        foreach (var t in OnnxGraphWeights.Read(model))
            Assert.Equal(t.Name == "b2" ? before[t.Name] : tensors.Single(s => s.Name == t.Name).Data, t.Data);
    }

    [Fact]
    public void ASparseFileOfARegistryModel_OrWithAnExtraTensor_IsOneLine()
    {
        using var scope = NewDisposeScope();
        using var model = ImportFixtures.Load("mlp");
        var spec = new ModelSpec("mlpnet", [1, 28, 28], 10);
        using var registry = ModelRegistry.Create(spec);
        var info = new CheckpointInfo { Architecture = "mlpnet", InputShape = [1, 28, 28], NumClasses = 10, Dataset = "digits" };
        string registryFile = Path.Combine(dir, "mlpnet.sparse");
        File.WriteAllBytes(registryFile, SparseFile.Build(info, ModelState.Read(registry)).Bytes);
        var e = Assert.Throws<SurgeonException>(() => OnnxGraphWeights.Import(model, "sparse", registryFile));
        Assert.Contains("holds the weights of a mlpnet model, not of an ONNX graph", e.Message);

        var graphInfo = info with { Architecture = "onnx" };
        var extra = OnnxGraphWeights.Read(model).Append(new StateTensor("extra", "F32", [2], new byte[8])).ToList();
        string extraFile = Path.Combine(dir, "extra.sparse");
        File.WriteAllBytes(extraFile, SparseFile.Build(graphInfo, extra).Bytes);
        e = Assert.Throws<SurgeonException>(() => OnnxGraphWeights.Import(model, "sparse", extraFile));
        Assert.Contains("0 mis-shaped, 0 missing, 1 unexpected (extra)", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
