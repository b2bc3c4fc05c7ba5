using Surgeon.Models;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Training;

public class CheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ckpt-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static CheckpointInfo Info(int inputs) => new()
    {
        Architecture = "mlpnet",
        InputShape = [1, 1, inputs],
        NumClasses = 3,
        Width = 0.2,
        Dataset = "digits",
        Seed = 5,
    };

    private string Saved(out nn.Module<Tensor, Tensor> model)
    {
        manual_seed(7);
        model = ModelRegistry.Create(Info(12).Spec);
        string path = Path.Combine(dir, "m.ckpt");
        Checkpoint.Save(path, model, Info(12));
        return path;
    }

    [Fact]
    public void SavedAndLoaded_PredictsTheSameLogits()
    {
        string path = Saved(out var model);
        var (loaded, info) = Checkpoint.Load(path);
        Assert.Equal("mlpnet", info.Architecture);
        Assert.Equal(5, info.Seed);
        manual_seed(1);
        using var x = randn(9, 1, 1, 12);
        using var a = model.forward(x);
        using var b = loaded.forward(x);
        Assert.True(a.eq(b).all().item<bool>(), "logits differ after a save/load round trip");
        Assert.Empty(Directory.GetFiles(dir, "*tmp*"));
    }

    [Fact]
    public void FlippedByte_IsCaughtByTheHash()
    {
        string path = Saved(out _);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        Assert.Contains("corrupt", Assert.Throws<SurgeonException>(() => Checkpoint.Load(path)).Message);
    }

    [Fact]
    public void Truncated_IsCaughtByTheHash()
    {
        string path = Saved(out _);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
        Assert.Contains("corrupt", Assert.Throws<SurgeonException>(() => Checkpoint.Load(path)).Message);
    }

    [Fact]
    public void WrongArchitecture_IsRejected()
    {
        string path = Saved(out _);
        Assert.Contains("holds a mlpnet", Assert.Throws<SurgeonException>(() => Checkpoint.Load(path, expectedArchitecture: "resnet20")).Message);
    }

    [Fact]
    public void WeightsOfAnotherShape_AreRejectedCleanly()
    {
        string path = Saved(out _);
        // A sidecar that claims another input size: the weights no longer fit the model it describes.
        string sidecar = Checkpoint.SidecarPath(path);
        File.WriteAllText(sidecar, File.ReadAllText(sidecar).Replace("\"inputShape\": [\n    1,\n    1,\n    12\n  ]", "\"inputShape\": [\n    1,\n    1,\n    13\n  ]"));
        Assert.Contains("13", File.ReadAllText(sidecar));
        Assert.Throws<SurgeonException>(() => Checkpoint.Load(path));
    }

    [Fact]
    public void MissingSidecar_IsExplained()
    {
        string path = Saved(out _);
        File.Delete(Checkpoint.SidecarPath(path));
        Assert.Contains("sidecar", Assert.Throws<SurgeonException>(() => Checkpoint.Load(path)).Message);
    }

    [Fact]
    public void NaNWeights_AreNeitherSavedNorLoaded()
    {
        manual_seed(7);
        var model = ModelRegistry.Create(Info(12).Spec);
        using (no_grad())
            model.parameters().First().fill_(float.NaN);
        string path = Path.Combine(dir, "nan.ckpt");
        Assert.Contains("NaN", Assert.Throws<SurgeonException>(() => Checkpoint.Save(path, model, Info(12))).Message);
        Assert.Empty(Directory.GetFiles(dir));
        // Written by hand with a valid sidecar, the file is refused when loaded.
        Checkpoint.Save(path, ModelRegistry.Create(Info(12).Spec), Info(12));
        model.save(path);
        string sidecar = File.ReadAllText(path + ".json");
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();
        File.WriteAllText(path + ".json", System.Text.RegularExpressions.Regex.Replace(sidecar, "\"weightsSha256\": \"[0-9a-f]+\"", $"\"weightsSha256\": \"{hash}\""));
        Assert.Contains("NaN", Assert.Throws<SurgeonException>(() => Checkpoint.Load(path)).Message);
    }

    [Theory]
    [InlineData("testAccuracy", "1.5", "its testAccuracy is 1.5, not a fraction in [0, 1]")]
    [InlineData("testAccuracy", "\"NaN\"", "its testAccuracy is NaN")]
    [InlineData("testLoss", "-1", "its testLoss is -1, but a loss is never negative")]
    [InlineData("width", "\"Infinity\"", "its width is Infinity, not a finite number > 0")]
    [InlineData("width", "0", "its width is 0")]
    [InlineData("sparsity", "2", "its sparsity is 2")]
    [InlineData("inputShape", "[1, 0, 28]", "its inputShape [1, 0, 28] is not C×H×W with positive sizes")]
    [InlineData("numClasses", "1", "its numClasses is 1")]
    [InlineData("compression", "{\"tensors\": null}", "its compression has no tensors")]
    [InlineData("compression", "{\"tensors\": {\"fc1.weight\": null}}", "its compression of fc1.weight is null")]
    [InlineData("compression", "{\"tensors\": {\"fc1.weight\": {\"quantization\": {\"bits\": 8, \"symmetric\": true, \"scales\": null, \"zeroPoints\": [0]}}}}", "its quantisation of fc1.weight lacks its scales or zero points")]
    public void AnImpossibleSidecar_IsRefusedWhenRead(string field, string value, string phrase)
    {
        string path = Path.Combine(dir, "m.ckpt");
        Checkpoint.Save(path, ModelRegistry.Create(Info(12).Spec), Info(12));
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path + ".json"))!.AsObject();
        node[field] = System.Text.Json.Nodes.JsonNode.Parse(value);
        File.WriteAllText(path + ".json", node.ToJsonString());
        var e = Assert.Throws<SurgeonException>(() => Checkpoint.ReadInfo(path));
        Assert.Contains(phrase, e.Message);
        Assert.StartsWith($"{path}.json: the sidecar is impossible", e.Message);
    }

    [Fact]
    public void AnInfiniteOrNaNTestLoss_IsWrittenAsAString_AndReadBack()
    {
        string path = Path.Combine(dir, "m.ckpt");
        var model = ModelRegistry.Create(Info(12).Spec);
        Checkpoint.Save(path, model, Info(12) with { TestLoss = double.PositiveInfinity });
        Assert.Contains("\"testLoss\": \"Infinity\"", File.ReadAllText(path + ".json"));
        Assert.True(double.IsPositiveInfinity(Checkpoint.ReadInfo(path).TestLoss!.Value));
        Checkpoint.Save(path, model, Info(12) with { TestLoss = double.NaN });
        Assert.True(double.IsNaN(Checkpoint.ReadInfo(path).TestLoss!.Value));
        // An impossible value is refused before anything is written.
        string other = Path.Combine(dir, "other.ckpt");
        var e = Assert.Throws<SurgeonException>(() => Checkpoint.Save(other, model, Info(12) with { TestAccuracy = double.NaN }));
        Assert.Contains("its testAccuracy is NaN", e.Message);
        Assert.False(File.Exists(other));
    }

    [Fact]
    public void ASidecarDescribingAFarLargerModel_IsRefusedBeforeTheModelIsBuilt()
    {
        string path = Path.Combine(dir, "m.ckpt");
        Checkpoint.Save(path, ModelRegistry.Create(Info(12).Spec), Info(12));
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path + ".json"))!.AsObject();
        node["width"] = 2000; // fc2 alone would be 80,000 × 40,000 floats: 12.8 GB
        File.WriteAllText(path + ".json", node.ToJsonString());
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SurgeonException>(() => Checkpoint.Load(path));
        Assert.Contains("needs 80000×12", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 10 << 20, "allocated more than 10 MB");
    }
}
