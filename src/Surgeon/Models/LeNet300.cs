using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// LeNet-300-100 (LeCun et al. 1998; the MLP of the ADMM and deep-compression papers): flatten → fc 300 → ReLU →
/// fc 100 → ReLU → fc 10, with biases. On 28×28 inputs 235,200 + 30,000 + 1,000 = 266,200 weights and 266,610
/// parameters. Inputs of any C×H×W are flattened, so fc1 has C·H·W inputs. Filter groups: the hidden neurons,
/// "fc1" (read by fc2) and "fc2" (read by fc3); removing a neuron removes its row, its bias and the next layer's column.
/// </summary>
internal sealed class LeNet300 : nn.Module<Tensor, Tensor>, IStructuredModel
{
    internal static readonly int[] BaseWidths = [300, 100];

    private readonly Linear fc1, fc2, fc3;
    private readonly ChannelLayout layout = new();

    public LeNet300(ModelSpec spec) : base(nameof(LeNet300))
    {
        Spec = spec;
        var widths = spec.ResolveChannels(BaseWidths);
        fc1 = nn.Linear(spec.InputShape.Aggregate(1, (a, b) => a * b), widths[0]);
        fc2 = nn.Linear(widths[0], widths[1]);
        fc3 = nn.Linear(widths[1], spec.NumClasses);
        int g1 = layout.AddGroup("fc1", widths[0]);
        layout.Producer(g1, "fc1", hasBias: true);
        layout.Consumer(g1, "fc2.weight");
        int g2 = layout.AddGroup("fc2", widths[1]);
        layout.Producer(g2, "fc2", hasBias: true);
        layout.Consumer(g2, "fc3.weight");
        RegisterComponents();
        StructuredShrink.CheckNames(this, layout);
    }

    public ModelSpec Spec { get; }

    public IReadOnlyList<FilterGroup> FilterGroups => layout.FilterGroups();

    public nn.Module<Tensor, Tensor> Shrink(IReadOnlyDictionary<string, long[]> keep, KeepFloor floor = KeepFloor.FivePercent) =>
        StructuredShrink.Shrink(this, Spec, layout, keep, floor);

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.flatten(1);
        // Checked here: a matmul of mismatched shapes aborts the process in native code.
        if (x.shape[1] != fc1.in_features)
            throw new SurgeonException($"lenet300 takes {fc1.in_features} inputs per sample ({Spec.InputShapeText}), got [{string.Join('×', input.shape)}]");
        x = nn.functional.relu(fc1.call(x));
        x = nn.functional.relu(fc2.call(x));
        return fc3.call(x).MoveToOuterDisposeScope();
    }
}
