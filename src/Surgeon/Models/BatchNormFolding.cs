using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// An inference-mode BatchNorm as the per-channel affine map it is: y_c = s_c·x_c + t_c with s = γ/√(running_var + ε)
/// and t = β − s·running_mean. Computed in double, so folding adds no error beyond the final rounding to float32.
/// </summary>
internal sealed record ChannelAffine(double[] Scale, double[] Shift)
{
    public int Channels => Scale.Length;

    public static ChannelAffine Of(SafeBatchNorm2d norm) =>
        Of(Floats(norm.weight), Floats(norm.bias), Floats(norm.running_mean), Floats(norm.running_var), norm.Eps);

    public static ChannelAffine Of(float[] gamma, float[] beta, float[] mean, float[] variance, double eps)
    {
        int n = gamma.Length;
        if (beta.Length != n || mean.Length != n || variance.Length != n)
            throw new ArgumentException($"BatchNorm statistics of unequal lengths: γ {n}, β {beta.Length}, mean {mean.Length}, var {variance.Length}");
        var scale = new double[n];
        var shift = new double[n];
        for (int c = 0; c < n; c++)
        {
            scale[c] = gamma[c] / Math.Sqrt(variance[c] + eps);
            shift[c] = beta[c] - scale[c] * mean[c];
        }
        return new ChannelAffine(scale, shift);
    }

    private static float[] Floats(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        return tensor.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }
}

/// <summary>
/// Folds an inference-mode BatchNorm into the layer next to it, so an exported graph (or a quantised model) has no norm
/// node.
/// Into the preceding conv: BN(W∗x + b) = (s·W)∗x + (s·b + t), per output channel. Into a following linear layer
/// (when only linear, per-channel maps such as global average pooling lie between): W·(s⊙x + t) + b =
/// (W·diag s)·x + (W·t + b). Both are exact up to float32 rounding.
/// </summary>
internal static class BatchNormFolding
{
    /// <summary>
    /// The folded weight and bias of a conv (weight [O, I/groups, kh, kw] row-major, so output channel o is one
    /// contiguous block; bias [O] or null for a bias-free conv) followed by <paramref name="norm"/> over its O channels.
    /// </summary>
    public static (float[] Weight, float[] Bias) IntoPrecedingConv(float[] weight, float[]? bias, ChannelAffine norm)
    {
        int outChannels = norm.Channels;
        if (outChannels == 0 || weight.Length % outChannels != 0)
            throw new ArgumentException($"a conv weight of {weight.Length} values does not split into {outChannels} output channels");
        if (bias is not null && bias.Length != outChannels)
            throw new ArgumentException($"a conv bias of {bias.Length} values for {outChannels} output channels");
        int block = weight.Length / outChannels;
        var folded = new float[weight.Length];
        var foldedBias = new float[outChannels];
        for (int o = 0; o < outChannels; o++)
        {
            double s = norm.Scale[o];
            for (int k = o * block; k < (o + 1) * block; k++)
                folded[k] = (float)(weight[k] * s);
            foldedBias[o] = (float)(s * (bias?[o] ?? 0) + norm.Shift[o]);
        }
        return (folded, foldedBias);
    }

    /// <summary>
    /// The folded weight and bias of a linear layer (weight [out, in] row-major, bias [out] or null) whose in inputs
    /// are the channels of <paramref name="norm"/>.
    /// </summary>
    public static (float[] Weight, float[] Bias) IntoFollowingLinear(float[] weight, float[]? bias, int outFeatures, ChannelAffine norm)
    {
        int inFeatures = norm.Channels;
        if (weight.Length != (long)outFeatures * inFeatures)
            throw new ArgumentException($"a linear weight of {weight.Length} values is not {outFeatures}×{inFeatures}");
        if (bias is not null && bias.Length != outFeatures)
            throw new ArgumentException($"a linear bias of {bias.Length} values for {outFeatures} outputs");
        var folded = new float[weight.Length];
        var foldedBias = new float[outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            double b = bias?[o] ?? 0;
            for (int i = 0; i < inFeatures; i++)
            {
                double w = weight[o * inFeatures + i];
                folded[o * inFeatures + i] = (float)(w * norm.Scale[i]);
                b += w * norm.Shift[i];
            }
            foldedBias[o] = (float)b;
        }
        return (folded, foldedBias);
    }
}
