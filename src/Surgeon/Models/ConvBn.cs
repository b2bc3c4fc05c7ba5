using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// A bias-free convolution and the BatchNorm over its output channels (registered as "conv" and "bn"). Its forward
/// is norm(conv(x)); a model that wants another order (VGG's conv→ReLU→BN) calls <see cref="Conv"/> and
/// <see cref="Norm"/> itself.
/// </summary>
internal sealed class ConvBn : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly SafeBatchNorm2d bn;

    public ConvBn(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0, long groups = 1)
        : base(nameof(ConvBn))
    {
        ConvolutionBackend.DisableOneDnn(); // its conv input gradients are wrong for narrow layers
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, groups: groups, bias: false);
        bn = new SafeBatchNorm2d(outChannels);
        RegisterComponents();
    }

    public Conv2d Conv => conv;
    public SafeBatchNorm2d Norm => bn;

    public override Tensor forward(Tensor input) => bn.call(conv.call(input));
}
