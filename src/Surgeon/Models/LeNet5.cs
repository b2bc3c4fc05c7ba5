using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// LeNet-5 as in Caffe's MNIST example (the model of the ADMM pruning papers): conv 20@5×5 → max-pool 2 → conv 50@5×5 →
/// max-pool 2 → fc 500 → ReLU → fc 10, every layer with a bias, no ReLU after the convs (Caffe's lenet_train_test has
/// a single ReLU, after ip1), no padding. On 28×28 inputs: 24 → 12 → 8 → 4, so fc1 reads 50·4·4 = 800 inputs, and the
/// model has 500 + 25,000 + 400,000 + 5,000 = 430,500 weights and 431,080 parameters. Any C×H×W input with H, W ≥ 16.
/// Filter groups: "conv1", "conv2" and the fc1 neurons "fc1"; conv2's channels reach fc1 through the flatten, each as
/// a block of H·W inputs.
/// </summary>
internal sealed class LeNet5 : nn.Module<Tensor, Tensor>, IStructuredModel
{
    internal static readonly int[] BaseWidths = [20, 50, 500];

    /// <summary>The smallest input side: two 5×5 valid convs and two 2×2 pools leave at least one pixel.</summary>
    internal const int MinSide = 16;

    private readonly Conv2d conv1, conv2;
    private readonly Linear fc1, fc2;
    private readonly ChannelLayout layout = new();

    public LeNet5(ModelSpec spec) : base(nameof(LeNet5))
    {
        ConvolutionBackend.DisableOneDnn(); // its conv input gradients are wrong for narrow layers
        Spec = spec;
        if (spec.InputShape[1] < MinSide || spec.InputShape[2] < MinSide)
            throw new SurgeonException($"lenet5 needs inputs of at least {MinSide}×{MinSide} (two 5×5 convs and two 2×2 pools), got {spec.InputShapeText}");
        var widths = spec.ResolveChannels(BaseWidths);
        int side(int s) => ((s - 4) / 2 - 4) / 2;
        int positions = side(spec.InputShape[1]) * side(spec.InputShape[2]);
        conv1 = nn.Conv2d(spec.InputShape[0], widths[0], 5);
        conv2 = nn.Conv2d(widths[0], widths[1], 5);
        fc1 = nn.Linear(widths[1] * positions, widths[2]);
        fc2 = nn.Linear(widths[2], spec.NumClasses);
        int g1 = layout.AddGroup("conv1", widths[0]);
        layout.Producer(g1, "conv1", hasBias: true);
        layout.Consumer(g1, "conv2.weight");
        int g2 = layout.AddGroup("conv2", widths[1]);
        layout.Producer(g2, "conv2", hasBias: true);
        layout.Consumer(g2, "fc1.weight", block: positions);
        int g3 = layout.AddGroup("fc1", widths[2]);
        layout.Producer(g3, "fc1", hasBias: true);
        layout.Consumer(g3, "fc2.weight");
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
        // fc1 reads the flattened maps, so their size is fixed by the spec (no global pool adapts it).
        if (input.shape[2] != Spec.InputShape[1] || input.shape[3] != Spec.InputShape[2])
            throw new SurgeonException($"lenet5 was built for {Spec.InputShapeText} inputs, got [{string.Join('×', input.shape)}]");
        using var scope = NewDisposeScope();
        var x = nn.functional.max_pool2d(conv1.call(input), 2, 2);
        x = nn.functional.max_pool2d(conv2.call(x), 2, 2).flatten(1);
        x = nn.functional.relu(fc1.call(x));
        return fc2.call(x).MoveToOuterDisposeScope();
    }
}
