using Surgeon.Compression;
using Surgeon.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Compression;

public class CompressionStateTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("compression-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void AMask_PacksEightEntriesAByte_LeastSignificantBitFirst()
    {
        bool[] keep = [true, false, true, true, false, false, false, true, false, true];
        var t = TensorCompression.OfMask(keep);
        // bits 0..7: 1,0,1,1,0,0,0,1 → 0b1000_1101 = 0x8D; bits 8..9: 0,1 → 0b10 = 0x02
        Assert.Equal(Convert.ToBase64String([0x8D, 0x02]), t.Mask);
        Assert.Equal(5, t.Kept);
        Assert.Equal(keep, t.UnpackMask(10, "w"));
        Assert.Contains("needs 1", Assert.Throws<SurgeonException>(() => t.UnpackMask(8, "w")).Message);
        Assert.Contains("past the tensor", Assert.Throws<SurgeonException>(() => (t with { Mask = Convert.ToBase64String([0x8D, 0x06]) }).UnpackMask(10, "w")).Message);
        Assert.Contains("not the 4", Assert.Throws<SurgeonException>(() => (t with { Kept = 4 }).UnpackMask(10, "w")).Message);
    }

    [Fact]
    public void ACheckpoint_StoresItsMaskInTheSidecar_AndLoadsItBack_AndRefusesAMaskThatDisagreesWithTheWeights()
    {
        manual_seed(3);
        var model = new MLPNet(16, 3, 0.5);
        var parameters = PrunableParameters.Discover(model);
        using var zeros = PrunableParameters.Flatten(parameters).abs().lt(Surgeon.Numerics.HeldScalars.Of(0.05));
        using var mask = new MaskSet(parameters, zeros.logical_not());
        mask.Apply();
        var info = new CheckpointInfo
        {
            Architecture = "mlpnet",
            InputShape = [1, 4, 4],
            NumClasses = 3,
            Width = 0.5,
            Dataset = "test",
            Compression = CompressionState.FromMask(mask),
        };
        string path = Path.Combine(dir, "m.ckpt");
        Checkpoint.Save(path, model, info);
        Assert.Contains("\"compression\"", File.ReadAllText(path + ".json"));
        var (loaded, back) = Checkpoint.Load(path);
        Assert.Equal(CheckpointInfo.CurrentFormat, back.Format);
        using var again = back.Compression!.ToMask(PrunableParameters.Discover(loaded))!;
        Assert.Equal(mask.Keep.data<bool>().ToArray(), again.Keep.data<bool>().ToArray());

        // A weight the mask prunes is not zero: the sidecar does not describe these weights.
        using (no_grad()) loaded.parameters().First().add_(Surgeon.Numerics.HeldScalars.Of(1));
        Assert.Contains("where its stored mask prunes them", Assert.Throws<SurgeonException>(() => Checkpoint.Save(Path.Combine(dir, "bad.ckpt"), loaded, back)).Message);
    }

    [Fact]
    public void TheCommittedFormatOneCheckpoints_StillLoad()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (!File.Exists(Path.Combine(d.FullName, "Surgeon.sln"))) continue;
            foreach (var sidecar in Directory.GetFiles(Path.Combine(d.FullName, "docs"), "*.ckpt.json", SearchOption.AllDirectories))
            {
                var (_, info) = Checkpoint.Load(sidecar[..^5]);
                Assert.Equal("surgeon-checkpoint/1", info.Format);
                Assert.Null(info.Compression);
            }
            return;
        }
        Assert.Fail("the repository root was not found");
    }
}
