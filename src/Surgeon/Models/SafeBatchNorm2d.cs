using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// BatchNorm2d with the same parameters and buffers as TorchSharp's (weight, bias, running_mean, running_var,
/// num_batches_tracked; momentum 0.1), for every conv model. TorchSharp 0.107's own BatchNorm.forward increments
/// num_batches_tracked with an implicit Scalar that the GC can finalize mid-call; on a long ResNet run this crashed
/// with "For integral input tensors, argument alpha must not be a floating point number" (the freed Scalar read as a
/// double). Here the increment uses a held integer Scalar and the normalisation is the functional batch_norm.
/// </summary>
internal sealed class SafeBatchNorm2d : nn.Module<Tensor, Tensor>
{
    private static readonly Scalar OneInt64 = 1L.ToScalar(); // held for the process's lifetime, like HeldScalars

    private readonly double eps;

    public SafeBatchNorm2d(long features, double eps = 1e-5, double momentum = 0.1) : base(nameof(SafeBatchNorm2d))
    {
        this.eps = eps;
        Momentum = momentum;
        Features = features;
        // A model may be built inside a caller's dispose scope (e.g. while shrinking); its state must outlive it.
        weight = new Parameter(ones(features).DetachFromDisposeScope());
        bias = new Parameter(zeros(features).DetachFromDisposeScope());
        weight.DetachFromDisposeScope();
        bias.DetachFromDisposeScope();
        running_mean = zeros(features).DetachFromDisposeScope();
        running_var = ones(features).DetachFromDisposeScope();
        num_batches_tracked = zeros([], ScalarType.Int64).DetachFromDisposeScope();
        register_parameter(nameof(weight), weight);
        register_parameter(nameof(bias), bias);
        register_buffer(nameof(running_mean), running_mean);
        register_buffer(nameof(running_var), running_var);
        register_buffer(nameof(num_batches_tracked), num_batches_tracked);
    }

#pragma warning disable IDE1006 // the names of PyTorch's state dict; setters let Module.to() swap in converted tensors
    public Parameter weight { get; private set; }
    public Parameter bias { get; private set; }
    public Tensor running_mean { get; private set; }
    public Tensor running_var { get; private set; }
    public Tensor num_batches_tracked { get; private set; }
#pragma warning restore IDE1006

    public long Features { get; private init; }

    /// <summary>The ε added to the running variance (read by ONNX export, which folds the norm into a conv).</summary>
    public double Eps => eps;

    /// <summary>
    /// Weight of the current batch in the running statistics (0.1 by default). Settable so that
    /// <see cref="Training.BatchNormRecalibration"/> can give batch t the weight 1/(t+1), a plain average over batches.
    /// </summary>
    public double Momentum { get; set; }

    public override Tensor forward(Tensor input)
    {
        if (input.dim() != 4 || input.shape[1] != Features)
            throw new ArgumentException($"BatchNorm2d of {Features} channels got input [{string.Join(", ", input.shape)}]");
        if (training)
            using (no_grad())
                num_batches_tracked.add_(OneInt64, OneInt64);
        return nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, Momentum, eps);
    }
}
