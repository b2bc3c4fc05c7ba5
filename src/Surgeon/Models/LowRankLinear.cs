using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// A linear layer held as its factors, y = x·V·diag(s)·Uᵀ + b: two thin matrix products of r(F + D) multiply-adds per
/// sample instead of F·D. Parameters "u" (F×r), "s" (r), "v" (D×r) and, when the layer has one, "bias".
/// </summary>
internal sealed class LowRankLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter u, s, v;
    private readonly Parameter? bias;

    public LowRankLinear(LowRankFactors factors, Tensor? bias) : base(nameof(LowRankLinear))
    {
        if (factors.U.shape[1] != factors.Rank || factors.V.shape[1] != factors.Rank)
            throw new SurgeonException($"factors of rank {factors.Rank} need U and V with {factors.Rank} columns, got {factors.U.shape[1]} and {factors.V.shape[1]}");
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != factors.U.shape[0]))
            throw new SurgeonException($"a bias of shape [{string.Join(", ", bias.shape)}] does not fit {factors.U.shape[0]} outputs");
        u = new Parameter(factors.U.detach().clone());
        s = new Parameter(factors.S.detach().clone());
        v = new Parameter(factors.V.detach().clone());
        this.bias = bias is null ? null : new Parameter(bias.detach().clone());
        RegisterComponents();
    }

    /// <summary>The truncated SVD of <paramref name="linear"/>'s weight at <paramref name="rank"/>, its bias kept.</summary>
    public static LowRankLinear FromLinear(Linear linear, long rank)
    {
        using var factors = TruncatedSvd.Factorize(linear.weight!, rank);
        return new LowRankLinear(factors, linear.bias);
    }

    public long Rank => s.shape[0];
    public long InFeatures => v.shape[0];
    public long OutFeatures => u.shape[0];

    /// <summary>U·diag(s)·Vᵀ, the dense F×D weight this layer applies.</summary>
    public Tensor Weight()
    {
        using var _ = no_grad();
        return u.mul(s.unsqueeze(0)).matmul(v.T);
    }

    public override Tensor forward(Tensor input)
    {
        // Checked here: a matmul of mismatched shapes aborts the process in native code.
        if (input.dim() < 1 || input.shape[^1] != InFeatures)
            throw new SurgeonException($"a low-rank linear layer of {InFeatures} inputs got shape [{string.Join(", ", input.shape)}]");
        using var scope = NewDisposeScope();
        var y = input.matmul(v).mul(s).matmul(u.T);
        if (bias is not null) y = y.add(bias, HeldScalars.One);
        return y.MoveToOuterDisposeScope();
    }
}
