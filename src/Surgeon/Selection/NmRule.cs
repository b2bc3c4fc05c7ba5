using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Scoring;
using static TorchSharp.torch;

namespace Surgeon.Selection;

/// <summary>
/// N:M semi-structured sparsity (e.g. 2:4, the pattern sparse tensor cores run): in every group of M consecutive weights
/// of a row (a row = one output unit; a conv filter's C·kh·kw weights in memory order) the N lowest-scoring are pruned,
/// so the sparsity is N/M whatever target is asked (the target is ignored; the sweep records the sparsity reached). A
/// row whose length is not a multiple of M ends in a shorter group, which prunes min(N, its length). Weights already
/// pruned (<see cref="PruningContext.Mask"/>) go first in their group.
/// </summary>
internal sealed class NmRule(int n, int m) : IRule
{
    public int N { get; } = n >= 1 && n < m ? n : throw new SurgeonException($"an N:M pattern needs 1 ≤ N < M, got {n}:{m}");
    public int M { get; } = m;
    public string Name => $"{N}:{M}";
    public string Description => $"{N}:{M} sparsity: prune the {N} lowest scores in every group of {M} consecutive weights of a row";
    public StageNeeds Needs => StageNeeds.None;
    public bool PrunesFilters => false;

    /// <summary>"2:4" → (2, 4); null when <paramref name="text"/> is not an N:M pattern.</summary>
    public static NmRule? TryParse(string text)
    {
        var parts = text.Split(':');
        return parts.Length == 2 && int.TryParse(parts[0], out int n) && int.TryParse(parts[1], out int m) ? new NmRule(n, m) : null;
    }

    public RuleOutcome Select(PruningContext context, IScore score, PruneTarget target)
    {
        using var scope = NewDisposeScope();
        var scores = WeightScores.Compute(score, context).flatten().to(ScalarType.Float64);
        if (context.Mask is not null)
            scores = scores.masked_fill(context.Mask.Keep.logical_not(), HeldScalars.Of(double.NegativeInfinity));
        return new RuleOutcome(KeepMask(context.Parameters, scores, N, M).MoveToOuterDisposeScope());
    }

    /// <summary>The flat keep-mask pruning the <paramref name="n"/> lowest of <paramref name="scores"/> per group.</summary>
    public static Tensor KeepMask(IReadOnlyList<PrunableParameter> parameters, Tensor scores, int n, int m)
    {
        using var scope = NewDisposeScope();
        var s = scores.detach().flatten().to(ScalarType.Float64).cpu().data<double>().ToArray();
        var k = new bool[s.Length];
        Array.Fill(k, true);
        long offset = 0;
        foreach (var p in parameters)
        {
            long rows = p.Shape[0], cols = p.Count / rows;
            for (long r = 0; r < rows; r++)
            {
                for (long g = 0; g < cols; g += m)
                {
                    int len = (int)Math.Min(m, cols - g);
                    long start = offset + r * cols + g;
                    var order = Enumerable.Range(0, len).OrderBy(i => s[start + i]).ThenBy(i => i).Take(Math.Min(n, len));
                    foreach (int i in order) k[start + i] = false;
                }
            }
            offset += p.Count;
        }
        return tensor(k).to(scores.device).MoveToOuterDisposeScope();
    }
}
