using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// MobileNet-V1, CIFAR variant (as in flowandprune / kuangliu's pytorch-cifar): a 3×3 conv to 32 channels (stride 1)
/// with BN and ReLU, then 13 depthwise-separable blocks — depthwise 3×3 + BN + ReLU, pointwise 1×1 + BN + ReLU —
/// downsampling (stride 2 in the depthwise conv) in blocks 2, 4, 6 and 12, a global average pool and a linear
/// classifier. The first conv takes the spec's C channels; the global pool makes it work on 28×28 (map 2×2 at the
/// end, as on 32×32). Filter groups: "conv1" and each block's pointwise conv "layers.i.conv2"; the depthwise conv
/// that follows a group (and its BN) belongs to that group, because its channel c only reads input channel c.
/// </summary>
internal sealed class MobileNetV1 : nn.Module<Tensor, Tensor>, IStructuredModel
{
    /// <summary>Pointwise widths and depthwise strides of the 13 blocks.</summary>
    internal static readonly (int Width, int Stride)[] Blocks =
    [
        (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
    ];

    internal const int StemWidth = 32;

    private readonly Conv2d conv1;
    private readonly SafeBatchNorm2d bn1;
    private readonly ModuleList<SeparableBlock> layers;
    private readonly Linear linear;
    private readonly ChannelLayout layout = new();

    public MobileNetV1(ModelSpec spec) : base(nameof(MobileNetV1))
    {
        ConvolutionBackend.DisableOneDnn(); // its conv input gradients are wrong for narrow layers
        Spec = spec;
        var widths = spec.ResolveChannels([StemWidth, .. Blocks.Select(b => b.Width)]);
        conv1 = nn.Conv2d(spec.InputShape[0], widths[0], 3, stride: 1, padding: 1, bias: false);
        bn1 = new SafeBatchNorm2d(widths[0]);
        int group = layout.AddGroup("conv1", widths[0]);
        layout.Producer(group, "conv1");
        layout.Norm(group, "bn1");
        layers = new ModuleList<SeparableBlock>();
        for (int i = 0; i < Blocks.Length; i++)
        {
            layers.Add(new SeparableBlock(widths[i], widths[i + 1], Blocks[i].Stride));
            // The depthwise conv and its BN run on the previous group's channels.
            layout.Producer(group, $"layers.{i}.conv1");
            layout.Norm(group, $"layers.{i}.bn1");
            layout.Consumer(group, $"layers.{i}.conv2.weight");
            group = layout.AddGroup($"layers.{i}.conv2", widths[i + 1]);
            layout.Producer(group, $"layers.{i}.conv2");
            layout.Norm(group, $"layers.{i}.bn2");
        }
        linear = nn.Linear(widths[^1], spec.NumClasses);
        layout.Consumer(group, "linear.weight");
        RegisterComponents();
        StructuredShrink.CheckNames(this, layout);
    }

    public ModelSpec Spec { get; }

    public IReadOnlyList<FilterGroup> FilterGroups => layout.FilterGroups();

    public nn.Module<Tensor, Tensor> Shrink(IReadOnlyDictionary<string, long[]> keep, KeepFloor floor = KeepFloor.FivePercent) =>
        StructuredShrink.Shrink(this, Spec, layout, keep, floor);

    public override Tensor forward(Tensor input)
    {
        InputCheck.Images(input, Spec);
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(bn1.call(conv1.call(input)));
        foreach (var block in layers)
            x = block.call(x);
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return linear.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>Depthwise 3×3 (groups = channels) + BN + ReLU, then pointwise 1×1 + BN + ReLU.</summary>
    private sealed class SeparableBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1, conv2;
        private readonly SafeBatchNorm2d bn1, bn2;

        public SeparableBlock(int inChannels, int outChannels, int stride) : base(nameof(SeparableBlock))
        {
            conv1 = nn.Conv2d(inChannels, inChannels, 3, stride: stride, padding: 1, groups: inChannels, bias: false);
            bn1 = new SafeBatchNorm2d(inChannels);
            conv2 = nn.Conv2d(inChannels, outChannels, 1, bias: false);
            bn2 = new SafeBatchNorm2d(outChannels);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var x = nn.functional.relu(bn1.call(conv1.call(input)));
            return nn.functional.relu(bn2.call(conv2.call(x))).MoveToOuterDisposeScope();
        }
    }
}
