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
    public void NaNWeights_AreRejected()
    {
        manual_seed(7);
        var model = ModelRegistry.Create(Info(12).Spec);
        using (no_grad())
            model.parameters().First().fill_(float.NaN);
        string path = Path.Combine(dir, "nan.ckpt");
        Checkpoint.Save(path, model, Info(12));
        Assert.Contains("NaN", Assert.Throws<SurgeonException>(() => Checkpoint.Load(path)).Message);
    }
}
