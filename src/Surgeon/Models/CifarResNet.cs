using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// CIFAR-style ResNet (He et al. 2016, §4.2) with 6n+2 layers: a 3×3 conv to 16 channels + BN + ReLU, three stages
/// of n basic blocks at 16/32/64 channels (the second and third start with stride 2), a global average pool and a
/// linear classifier. n = 3 is ResNet-20, n = 9 ResNet-56. Where a block changes shape its shortcut is a 1×1 conv +
/// BN projection (option B, as in flowandprune). The stem takes the spec's C channels; 28×28 inputs end at 7×7.
/// Filter groups, per stage s: "layer{s}.residual", the residual-stream channels (the stem conv for stage 1, every
/// block's conv2 and the stage's projection shortcut) — non-removable, because the blocks add into it — followed by
/// "layer{s}.{b}.conv1", the block-internal channels, which are removed.
/// </summary>
internal sealed class CifarResNet : nn.Module<Tensor, Tensor>, IStructuredModel, Compression.IHasPaperPrunableSet
{
    internal static readonly int[] StageWidths = [16, 32, 64];

    private readonly Conv2d conv1;
    private readonly SafeBatchNorm2d bn1;
    private readonly ModuleList<BasicBlock> layer1, layer2, layer3;
    private readonly Linear linear;
    private readonly ChannelLayout layout = new();

    /// <param name="blocksPerStage">n: 3 for ResNet-20, 9 for ResNet-56.</param>
    public CifarResNet(ModelSpec spec, int blocksPerStage) : base(nameof(CifarResNet))
    {
        ConvolutionBackend.DisableOneDnn(); // its conv input gradients are wrong for narrow layers
        Spec = spec;
        var widths = spec.ResolveChannels(BaseWidths(blocksPerStage));
        var stages = new[] { layer1 = new ModuleList<BasicBlock>(), layer2 = new ModuleList<BasicBlock>(), layer3 = new ModuleList<BasicBlock>() };
        int next = 0, previousStream = -1;
        conv1 = nn.Conv2d(spec.InputShape[0], widths[0], 3, padding: 1, bias: false);
        bn1 = new SafeBatchNorm2d(widths[0]);
        long inChannels = widths[0];
        for (int s = 0; s < stages.Length; s++)
        {
            string stage = $"layer{s + 1}";
            int streamWidth = widths[next++];
            int stream = layout.AddGroup($"{stage}.residual", streamWidth, removable: false);
            if (s == 0)
            {
                layout.Producer(stream, "conv1");
                layout.Norm(stream, "bn1");
            }
            for (int b = 0; b < blocksPerStage; b++)
            {
                string block = $"{stage}.{b}";
                int stride = s > 0 && b == 0 ? 2 : 1;
                int inner = layout.AddGroup($"{block}.conv1", widths[next]);
                var bb = new BasicBlock(inChannels, widths[next++], streamWidth, stride);
                stages[s].Add(bb);
                // The block reads the residual stream it sits on (the previous stage's, for a stage's first block).
                int input = b == 0 && s > 0 ? previousStream : stream;
                layout.Consumer(input, $"{block}.conv1.weight");
                layout.Producer(inner, $"{block}.conv1");
                layout.Norm(inner, $"{block}.bn1");
                layout.Consumer(inner, $"{block}.conv2.weight");
                layout.Producer(stream, $"{block}.conv2");
                layout.Norm(stream, $"{block}.bn2");
                if (bb.HasProjection)
                {
                    layout.Consumer(input, $"{block}.shortcut.conv.weight");
                    layout.Producer(stream, $"{block}.shortcut.conv");
                    layout.Norm(stream, $"{block}.shortcut.bn");
                }
                inChannels = streamWidth;
            }
            previousStream = stream;
        }
        linear = nn.Linear(inChannels, spec.NumClasses);
        layout.Consumer(previousStream, "linear.weight");
        RegisterComponents();
        StructuredShrink.CheckNames(this, layout);
    }

    /// <summary>Unscaled channels of each filter group in order: per stage, the stream, then each block's conv1.</summary>
    internal static int[] BaseWidths(int blocksPerStage) =>
        StageWidths.SelectMany(w => Enumerable.Repeat(w, blocksPerStage + 1)).ToArray();

    public ModelSpec Spec { get; }

    public IReadOnlyList<FilterGroup> FilterGroups => layout.FilterGroups();

    public nn.Module<Tensor, Tensor> Shrink(IReadOnlyDictionary<string, long[]> keep, KeepFloor floor = KeepFloor.FivePercent) =>
        StructuredShrink.Shrink(this, Spec, layout, keep, floor);

    /// <summary>The papers' set: the two 3×3 convolutions inside each basic block ("layer{s}.{b}.conv1/conv2").</summary>
    public bool IsPaperPrunable(string layerName)
    {
        var parts = layerName.Split('.');
        return parts.Length == 3 && parts[0].StartsWith("layer", StringComparison.Ordinal) && int.TryParse(parts[1], out _)
            && parts[2] is "conv1" or "conv2";
    }

    public override Tensor forward(Tensor input)
    {
        InputCheck.Images(input, Spec);
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(bn1.call(conv1.call(input)));
        foreach (var stage in new[] { layer1, layer2, layer3 })
            foreach (var block in stage)
                x = block.call(x);
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return linear.call(x).MoveToOuterDisposeScope();
    }

    /// <summary>relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), the shortcut a 1×1 conv + BN where the shape changes.</summary>
    private sealed class BasicBlock : nn.Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1, conv2;
        private readonly SafeBatchNorm2d bn1, bn2;
        private readonly ConvBn? shortcut;

        public BasicBlock(long inChannels, long innerChannels, long outChannels, int stride) : base(nameof(BasicBlock))
        {
            conv1 = nn.Conv2d(inChannels, innerChannels, 3, stride: stride, padding: 1, bias: false);
            bn1 = new SafeBatchNorm2d(innerChannels);
            conv2 = nn.Conv2d(innerChannels, outChannels, 3, padding: 1, bias: false);
            bn2 = new SafeBatchNorm2d(outChannels);
            if (stride != 1 || inChannels != outChannels)
                shortcut = new ConvBn(inChannels, outChannels, 1, stride: stride);
            RegisterComponents();
        }

        public bool HasProjection => shortcut is not null;

        public override Tensor forward(Tensor input)
        {
            using var scope = NewDisposeScope();
            var x = nn.functional.relu(bn1.call(conv1.call(input)));
            x = bn2.call(conv2.call(x));
            var residual = shortcut is null ? input : shortcut.call(input);
            return nn.functional.relu(x.add(residual, HeldScalars.One)).MoveToOuterDisposeScope();
        }
    }
}
