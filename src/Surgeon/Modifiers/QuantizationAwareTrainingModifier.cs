using Surgeon.Compression;
using Surgeon.Quantization;
using Surgeon.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// Quantisation-aware training (recipe name quantization-aware): from epoch <see cref="StartEpoch"/> on, every Conv2d
/// and Linear computes with its weight fake-quantised on a b-bit grid and (with activations) its input fake-quantised
/// on an 8-bit grid, the straight-through estimator passing the gradient to the float weights (and inputs), which the
/// optimiser trains. The weight grid is tracked: recomputed from the current weight (min–max, symmetric or not, per
/// tensor or per channel) at every forward, so at the end it is the grid post-training min–max quantisation gives
/// the same weights. An input's range is an exponential moving average of each training batch's min and max (frozen
/// in evaluation). Forward hooks do it (registered at <see cref="RunStart"/>, again at <see cref="ModelReplaced"/>,
/// removed at <see cref="RunEnd"/>); the weights themselves are never rounded, so masks held by pruning modifiers stay
/// exact zeros (zero is on every grid). BatchNorm is not folded while training; <see cref="FinalPlan"/> folds it.
/// </summary>
internal sealed class QuantizationAwareTrainingModifier(WeightQuantizationSettings weights, int activationBits = 0) : TrainingModifier, IDisposable
{
    private readonly List<Action> removers = [];
    private readonly Dictionary<string, (double Lo, double Hi)> ranges = new(StringComparer.Ordinal);
    private bool active;

    public override string Name => "quantization-aware";
    public override ActiveRange Range => new(StartEpoch, null, InSteps: false);

    public WeightQuantizationSettings Weights { get; } = weights.Scale == ScaleMethod.MinMax
        ? weights
        : throw new SurgeonException("quantisation-aware training tracks min-max weight grids; the MSE scale search is for post-training quantisation");

    /// <summary>Activation bits (asymmetric, per tensor); 0 keeps activations in float.</summary>
    public int ActivationBits { get; } = activationBits;

    /// <summary>The moving average's weight on the old range: range ← m·range + (1 − m)·batch range.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>The first epoch (1-based) trained quantised; before it the model trains in float.</summary>
    public int StartEpoch { get; init; } = 1;

    public void Validate()
    {
        Weights.Validate();
        if (ActivationBits != 0)
            new ActivationQuantizationSettings { Bits = ActivationBits }.Validate();
        if (!(Momentum >= 0 && Momentum < 1))
            throw new SurgeonException($"the activation range momentum must be in [0, 1), got {Momentum}");
        if (StartEpoch < 1)
            throw new SurgeonException($"quantisation-aware training starts at epoch 1 or later, got {StartEpoch}");
    }

    /// <summary>The tracked input ranges by layer (empty until a training batch has run quantised).</summary>
    public IReadOnlyDictionary<string, (double Lo, double Hi)> InputRanges => ranges;

    public override void RunStart(TrainingLoop loop)
    {
        Validate();
        Hook(loop.Model);
    }

    public override void EpochStart(TrainingLoop loop) => active = loop.EpochsDone + 1 >= StartEpoch;

    public override void ModelReplaced(TrainingLoop loop, nn.Module<Tensor, Tensor> previous)
    {
        Unhook();
        ranges.Clear(); // a smaller model's layers see other inputs
        Hook(loop.Model);
    }

    public override void RunEnd(TrainingLoop loop) => Unhook();

    public void Dispose() => Unhook();

    /// <summary>Starts quantising now (without a training loop: for tests and for evaluating a model as QAT runs it).</summary>
    public void Attach(nn.Module model)
    {
        Validate();
        Unhook();
        Hook(model);
        active = true;
    }

    public void Detach() => Unhook();

    /// <summary>
    /// The quantised model the run ends with, for the checkpoint: BatchNorms folded and the folded weights put on
    /// min–max grids with <see cref="Weights"/> (for a model without norms, the grids the training forward used), each
    /// layer's input on the grid of its tracked range.
    /// </summary>
    public QuantizedModel FinalPlan(nn.Module model)
    {
        var prepared = PostTrainingQuantization.Prepare(model, Weights);
        if (ActivationBits == 0) return prepared;
        var inputs = new Dictionary<string, TensorQuantization>(StringComparer.Ordinal);
        foreach (var layer in prepared.Layers)
            inputs[layer.Name] = InputGrid(layer.Name)
                ?? throw new SurgeonException($"quantisation-aware training never ran {layer.Name} on a training batch, so its input has no range");
        return prepared with
        {
            Inputs = inputs,
            ActivationSettings = new ActivationQuantizationSettings { Bits = ActivationBits, Observer = ObserverKind.MovingAverage },
        };
    }

    private TensorQuantization? InputGrid(string layer) =>
        ranges.TryGetValue(layer, out var r) ? QuantizationGrid.FromRanges([r.Lo], [r.Hi], ActivationBits, symmetric: false, axis: null) : null;

    private void Hook(nn.Module model)
    {
        foreach (var (name, module) in WeightedLayers.Of(model))
        {
            switch (module)
            {
                case Conv2d conv:
                    long[] padding = conv.padding ?? throw new SurgeonException($"{name} has symbolic padding; quantisation needs explicit sizes");
                    removers.Add(conv.register_forward_hook((_, input, output) => active
                        ? nn.functional.conv2d(Input(name, input, conv.training), Weight(name, conv.weight!), conv.bias, conv.stride, padding, conv.dilation, conv.groups)
                        : output).remove);
                    break;
                case Linear linear:
                    removers.Add(linear.register_forward_hook((_, input, output) => active
                        ? nn.functional.linear(Input(name, input, linear.training), Weight(name, linear.weight!), linear.bias)
                        : output).remove);
                    break;
            }
        }
    }

    private void Unhook()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
    }

    private Tensor Weight(string layer, Parameter weight) =>
        StraightThrough.FakeQuantize(weight, WeightQuantizer.Compute(weight, Weights, $"{layer}.weight"));

    private Tensor Input(string layer, Tensor x, bool training)
    {
        if (ActivationBits == 0) return x;
        if (training)
        {
            // Training batches (and only they: evaluation runs the model in eval mode) move the range.
            using var scope = NewDisposeScope();
            double lo = x.detach().min().item<float>(), hi = x.detach().max().item<float>();
            ranges[layer] = ranges.TryGetValue(layer, out var r)
                ? (Momentum * r.Lo + (1 - Momentum) * lo, Momentum * r.Hi + (1 - Momentum) * hi)
                : (lo, hi);
        }
        return InputGrid(layer) is { } grid ? StraightThrough.FakeQuantize(x, grid) : x;
    }
}
