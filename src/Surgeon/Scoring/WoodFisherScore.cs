using Surgeon.Compression;
using Surgeon.Curvature;
using Surgeon.Numerics;
using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>
/// The WoodFisher saliency (Singh &amp; Alistarh 2020; "WF-S" in the CBS paper): ρ_q = w_q² / (2[F_λ⁻¹]_qq), the increase
/// of the quadratic model when weight q alone is removed with its optimal compensating update. F is the context's
/// empirical Fisher over its prunable weights, so only those can be scored; per filter the saliencies are summed.
/// </summary>
internal sealed class WoodFisherScore : IScore, IUsesFisher
{
    public string Name => "woodfisher";
    public string Description => "WoodFisher (OBS) saliency w²/(2[F_λ⁻¹]_qq) from the empirical Fisher";
    public StageNeeds Needs => StageNeeds.Data | StageNeeds.Gradients | StageNeeds.Fisher;
    public FilterAggregation Aggregation => FilterAggregation.Sum;

    /// <summary>diag(F_λ⁻¹) cached in float64 (8); the saliency's flattened weights in float32 and float64, w² and
    /// 2·diag (4 + 8 + 8 + 8); then the sort's values and indices (16) beside the saliency: 36 at the peak, rounded up.</summary>
    public int BookkeepingBytesPerWeight => 40;

    public FisherWork Work => FisherWork.Factors;

    public int LossEvaluationExamples(PruningOptions options) => 0;

    public void Check(PruningContext context) => FisherProvider.Check(context, Name);

    public IReadOnlyDictionary<string, Tensor> RawScores(PruningContext context, IReadOnlyList<string> parameterNames)
    {
        var saliency = Saliency(context, FisherProvider.For(context, Name));
        var result = new Dictionary<string, Tensor>();
        long offset = 0;
        foreach (var p in context.Parameters)
        {
            result[p.Name] = saliency.narrow(0, offset, p.Count).view(p.Shape);
            offset += p.Count;
        }
        foreach (var name in parameterNames)
            if (!result.ContainsKey(name))
                throw new SurgeonException($"woodfisher scores the weights its Fisher covers (the prunable set); '{name}' is not among them");
        return parameterNames.ToDictionary(n => n, n => result[n]);
    }

    /// <summary>ρ over the context's prunable weights, flat, float64, on the Fisher's device.</summary>
    public static Tensor Saliency(PruningContext context, EmpiricalFisher fisher)
    {
        using var scope = NewDisposeScope();
        var w = PrunableParameters.Flatten(context.Parameters).to(ScalarType.Float64).to(fisher.G.device);
        var inverseDiagonal = fisher.InverseDiagonal().to(ScalarType.Float64);
        return w.Squared().div_(inverseDiagonal.mul(HeldScalars.Of(2))).MoveToOuterDisposeScope();
    }
}
