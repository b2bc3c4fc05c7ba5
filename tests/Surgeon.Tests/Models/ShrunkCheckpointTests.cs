using Surgeon.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

public class ShrunkCheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("shrunk-ckpt-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void ShrunkModel_SavesAndLoadsWithItsChannelCounts()
    {
        var model = ConvModels.Create("resnet20", [3, 8, 8], width: 0.25); // channels 4 / 8 / 16
        ConvModels.RandomiseNorms(model);
        var shrunk = ConvModels.Structured(model).Shrink(new Dictionary<string, long[]>
        {
            ["layer1.0.conv1"] = [1, 3],
            ["layer3.2.conv1"] = [0, 5, 9],
            ["layer3.residual"] = [0, 1, 2, 3, 4, 5, 6, 7], // masked, not removed
        });
        var spec = ConvModels.Structured(shrunk).Spec;
        var info = new CheckpointInfo { Architecture = "x", InputShape = [1], NumClasses = 2, Dataset = "random" }.WithSpec(spec);
        string path = Path.Combine(dir, "shrunk.ckpt");
        Checkpoint.Save(path, shrunk, info);
        Assert.Contains("\"channels\"", File.ReadAllText(Checkpoint.SidecarPath(path)));

        var (loaded, loadedInfo) = Checkpoint.Load(path);
        Assert.Equal(spec.Channels, loadedInfo.Channels);
        Assert.Equal(spec.Channels, ConvModels.Structured(loaded).Spec.Channels);
        shrunk.eval();
        using var x = randn(2, 3, 8, 8);
        using var a = shrunk.call(x);
        using var b = loaded.call(x);
        Assert.True(a.eq(b).all().item<bool>(), "logits differ after a save/load round trip");
    }

    [Fact]
    public void UnprunedModel_WritesNoChannelList()
    {
        var model = ConvModels.Create("vgg13", [1, 8, 8], width: 0.0625);
        var info = new CheckpointInfo { Architecture = "vgg13", InputShape = [1, 8, 8], NumClasses = 10, Width = 0.0625, Dataset = "random" };
        string path = Path.Combine(dir, "dense.ckpt");
        Checkpoint.Save(path, model, info);
        Assert.DoesNotContain("channels", File.ReadAllText(Checkpoint.SidecarPath(path)));
        Assert.Null(Checkpoint.Load(path).Info.Channels);
    }
}
