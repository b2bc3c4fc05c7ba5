using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// A convolution held as its factors: the F×C×k×k filter bank read as the F × C·k·k matrix U·diag(s)·Vᵀ, applied as
/// r filters of C×k×k (Vᵀ, with the layer's stride, padding and dilation), a scale per filter (s) and a 1×1
/// convolution mixing the r maps into F (U), plus the bias: r(C·k·k + F) multiply-adds per output position instead of
/// F·C·k·k. Grouped convolutions are not factorised (each group would need its own factors).
/// </summary>
internal sealed class LowRankConv2d : nn.Module<Tensor, Tensor>
{
    private readonly Parameter u, s, v;
    private readonly Parameter? bias;
    private readonly long inChannels, kernelH, kernelW;
    private readonly long[] stride, padding, dilation;

    public LowRankConv2d(LowRankFactors factors, Tensor? bias, long inChannels, long kernelH, long kernelW,
        long[] stride, long[] padding, long[] dilation) : base(nameof(LowRankConv2d))
    {
        if (factors.V.shape[0] != inChannels * kernelH * kernelW)
            throw new SurgeonException($"V has {factors.V.shape[0]} rows; {inChannels} channels of {kernelH}×{kernelW} need {inChannels * kernelH * kernelW}");
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != factors.U.shape[0]))
            throw new SurgeonException($"a bias of shape [{string.Join(", ", bias.shape)}] does not fit {factors.U.shape[0]} filters");
        u = new Parameter(factors.U.detach().clone());
        s = new Parameter(factors.S.detach().clone());
        v = new Parameter(factors.V.detach().clone());
        this.bias = bias is null ? null : new Parameter(bias.detach().clone());
        this.inChannels = inChannels;
        (this.kernelH, this.kernelW) = (kernelH, kernelW);
        (this.stride, this.padding, this.dilation) = (stride, padding, dilation);
        RegisterComponents();
    }

    /// <summary>The truncated SVD of <paramref name="conv"/>'s filter matrix at <paramref name="rank"/>.</summary>
    public static LowRankConv2d FromConv2d(Conv2d conv, long rank)
    {
        if (conv.groups != 1)
            throw new SurgeonException($"a grouped convolution ({conv.groups} groups) is not factorised");
        if (conv.padding_type is not null || conv.padding_mode != PaddingModes.Zeros || conv.padding is not { Length: 2 })
            throw new SurgeonException("only convolutions with explicit zero padding are factorised");
        var w = conv.weight!;
        using var matrix = TruncatedSvd.Matrix(w);
        using var factors = TruncatedSvd.Factorize(matrix, rank);
        return new LowRankConv2d(factors, conv.bias, w.shape[1], w.shape[2], w.shape[3],
            conv.stride.ToArray(), conv.padding.ToArray(), conv.dilation.ToArray());
    }

    public long Rank => s.shape[0];

    /// <summary>The dense F×C×k×k filter bank this layer applies.</summary>
    public Tensor Weight()
    {
        using var _ = no_grad();
        return u.mul(s.unsqueeze(0)).matmul(v.T).reshape(u.shape[0], inChannels, kernelH, kernelW);
    }

    public override Tensor forward(Tensor input)
    {
        // Checked here: a convolution of mismatched shapes aborts the process in native code.
        if (input.dim() != 4 || input.shape[1] != inChannels)
            throw new SurgeonException($"a low-rank convolution of {inChannels} input channels got shape [{string.Join(", ", input.shape)}]");
        using var scope = NewDisposeScope();
        var filters = v.T.reshape(Rank, inChannels, kernelH, kernelW);
        var maps = nn.functional.conv2d(input, filters, null, stride, padding, dilation);
        maps = maps.mul(s.view(1, Rank, 1, 1));
        var y = nn.functional.conv2d(maps, u.view(u.shape[0], Rank, 1, 1), bias);
        return y.MoveToOuterDisposeScope();
    }
}
