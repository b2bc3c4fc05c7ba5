using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Benchmarking;

/// <summary>
/// TorchSharp inference: the model in eval mode, autograd off. The intra-op thread count is process-wide in LibTorch
/// (<c>torch.set_num_threads</c>), so the benchmark sets it once for every TorchSharp runner. Surgeon runs libtorch with
/// its oneDNN convolutions off (<see cref="ConvolutionBackend"/>: wrong input gradients on narrow layers), so by
/// default that is what is timed; with <c>oneDnn</c> each forward pass runs with them on, as an inference-only
/// deployment would.
/// </summary>
internal sealed class TorchSharpInference : IInferenceRunner
{
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly Tensor input;
    private readonly bool oneDnn;

    public TorchSharpInference(nn.Module<Tensor, Tensor> model, Tensor input, bool oneDnn = false)
    {
        this.model = model;
        this.input = input;
        this.oneDnn = oneDnn;
        model.eval();
    }

    public void Run()
    {
        if (oneDnn) ConvolutionBackend.RunWithOneDnn(Forward);
        else Forward();
    }

    private void Forward()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.call(input);
    }

    public void Dispose() { }
}
