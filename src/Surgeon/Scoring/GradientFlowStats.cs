using Surgeon.Data;
using Surgeon.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// The quantities of Lubana &amp; Dick's gradient-flow analysis at the current parameters θ (all trainable parameters,
/// as in the paper: weights, biases and BatchNorm affine parameters) with ḡ the mean cross-entropy gradient and H the
/// Hessian over the given samples (eval mode, see <see cref="LossGradients"/>). Under gradient flow dθ/dt = −ḡ:
/// d‖θ‖²/dt = −2θᵀḡ and d²‖θ‖²/dt² = 2‖ḡ‖² + 2θᵀHḡ.
/// </summary>
internal sealed record GradientFlowStats(double ParamNormSquared, double ThetaDotGrad, double GradNormSquared,
    double ThetaHessGrad, int Samples)
{
    /// <summary>d‖θ‖²/dt = −2θᵀḡ.</summary>
    public double NormSquaredRate => -2 * ThetaDotGrad;

    /// <summary>d²‖θ‖²/dt² = 2‖ḡ‖² + 2θᵀHḡ.</summary>
    public double NormSquaredAcceleration => 2 * GradNormSquared + 2 * ThetaHessGrad;

    public static GradientFlowStats Compute(nn.Module<Tensor, Tensor> model, ScoringData data)
    {
        using var scope = NewDisposeScope();
        var theta = ModelParameters.Trainable(model).Select(p => (Tensor)p.Parameter).ToList();
        var g = LossGradients.Mean(model, theta, data);
        var hg = LossGradients.HessianTimes(model, theta, g, data);
        double normSq = 0, thetaG = 0, gNormSq = 0, thetaHg = 0;
        for (int i = 0; i < theta.Count; i++)
        {
            var t = theta[i].detach().to_type(ScalarType.Float64);
            var gi = g[i].to_type(ScalarType.Float64);
            normSq += t.Squared().sum().item<double>();
            thetaG += t.mul(gi).sum().item<double>();
            gNormSq += gi.Squared().sum().item<double>();
            thetaHg += t.mul(hg[i].to_type(ScalarType.Float64)).sum().item<double>();
        }
        return new GradientFlowStats(normSq, thetaG, gNormSq, thetaHg, data.SampleCount);
    }
}
