using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// CIFAR-style VGG-13 as in the flowandprune code: ten 3×3 bias-free convs, each followed by ReLU and then BatchNorm
/// (conv→ReLU→BN), max-pools after every second conv, and a linear classifier on the last conv's channels.
/// Input adapter: the first conv takes the spec's C channels; a max-pool is skipped when the map is already 1 pixel
/// high or wide (on 28×28 the fifth pool is skipped: 28→14→7→3→1), and an adaptive average pool to 1×1 feeds the
/// classifier (the identity on 32×32 and 28×28, where the map is already 1×1). Filter groups: one per conv,
/// "features.i", consumed by the next conv or the classifier.
/// </summary>
internal sealed class Vgg13 : nn.Module<Tensor, Tensor>, IStructuredModel
{
    /// <summary>Conv widths; 0 marks a 2×2 max-pool.</summary>
    internal static readonly int[] Config = [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];

    private readonly ModuleList<ConvBn> features;
    private readonly Linear classifier;
    private readonly bool[] poolAfter;
    private readonly ChannelLayout layout = new();

    public Vgg13(ModelSpec spec) : base(nameof(Vgg13))
    {
        ConvolutionBackend.DisableOneDnn(); // its conv input gradients are wrong for narrow layers
        Spec = spec;
        var widths = spec.ResolveChannels(Config.Where(c => c > 0).ToArray());
        features = new ModuleList<ConvBn>();
        poolAfter = new bool[widths.Length];
        long inChannels = spec.InputShape[0];
        int h = spec.InputShape[1], w = spec.InputShape[2], conv = -1;
        foreach (int entry in Config)
        {
            if (entry == 0)
            {
                if (Math.Min(h, w) >= 2) { poolAfter[conv] = true; h /= 2; w /= 2; }
                continue;
            }
            conv++;
            features.Add(new ConvBn(inChannels, widths[conv], 3, padding: 1));
            int g = layout.AddGroup($"features.{conv}", widths[conv]);
            layout.Producer(g, $"features.{conv}.conv");
            layout.Norm(g, $"features.{conv}.bn");
            if (conv > 0) layout.Consumer(g - 1, $"features.{conv}.conv.weight");
            inChannels = widths[conv];
        }
        classifier = nn.Linear(inChannels, spec.NumClasses);
        layout.Consumer(widths.Length - 1, "classifier.weight");
        RegisterComponents();
        StructuredShrink.CheckNames(this, layout);
    }

    public ModelSpec Spec { get; }

    /// <summary>Whether a 2×2 max-pool follows conv i (skipped once the map is 1 pixel high or wide); read by ONNX export.</summary>
    internal IReadOnlyList<bool> PoolAfter => poolAfter;

    public IReadOnlyList<FilterGroup> FilterGroups => layout.FilterGroups();

    public nn.Module<Tensor, Tensor> Shrink(IReadOnlyDictionary<string, long[]> keep, KeepFloor floor = KeepFloor.FivePercent) =>
        StructuredShrink.Shrink(this, Spec, layout, keep, floor);

    public override Tensor forward(Tensor input)
    {
        InputCheck.Images(input, Spec);
        using var scope = NewDisposeScope();
        var x = input;
        for (int i = 0; i < features.Count; i++)
        {
            var layer = features[i];
            x = layer.Norm.call(nn.functional.relu(layer.Conv.call(x)));
            if (poolAfter[i]) x = nn.functional.max_pool2d(x, 2, 2);
        }
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1);
        return classifier.call(x).MoveToOuterDisposeScope();
    }
}
