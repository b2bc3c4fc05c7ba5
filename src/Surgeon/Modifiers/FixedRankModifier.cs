using System.Globalization;
using Surgeon.Models;
using Surgeon.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Modifiers;

/// <summary>
/// Fine-tuning in factored form (recipe name fixed-rank): after every optimiser step each listed weight (a Linear
/// weight, or a conv's F × C·k·k filter matrix) is put back on its best rank-r approximation, its truncated SVD
/// (Eckart–Young), so a factorised checkpoint trains without leaving its ranks — projected gradient descent onto the
/// matrices of rank ≤ r. The weights keep their dense shape, as <see cref="LowRankFactorization"/> writes them; the
/// factors of the result are its SVD.
/// </summary>
internal sealed class FixedRankModifier(IReadOnlyDictionary<string, int> ranks) : TrainingModifier
{
    private List<(Parameter Weight, int Rank)> weights = [];

    public override string Name => "fixed-rank";
    public IReadOnlyDictionary<string, int> Ranks => ranks;

    public override void RunStart(TrainingLoop loop) => Bind(loop.Model);

    /// <summary>Finds the listed weights in <paramref name="model"/> and projects them once, so training starts on the
    /// rank-r set.</summary>
    public void Bind(TorchSharp.torch.nn.Module model)
    {
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        weights = ranks.Select(kv => named.TryGetValue(kv.Key, out var p) && p.dim() >= 2
            ? (p, kv.Value)
            : throw new SurgeonException($"fixed-rank: the model has no weight matrix '{kv.Key}'")).ToList();
        Project();
    }

    public override void AfterStep(TrainingLoop loop) => Project();

    /// <summary>Replaces every listed weight by its best rank-r approximation (a rank ≥ min(F, D) leaves it as it is).</summary>
    public void Project()
    {
        using var _ = no_grad();
        foreach (var (weight, rank) in weights)
        {
            using var scope = NewDisposeScope();
            var matrix = TruncatedSvd.Matrix(weight);
            if (rank >= Math.Min(matrix.shape[0], matrix.shape[1])) continue;
            using var factors = TruncatedSvd.Factorize(matrix, rank);
            weight.copy_(factors.Product().reshape(weight.shape));
        }
    }

    /// <summary>"fc1.weight=8, fc2.weight=11": a rank ≥ 1 per weight.</summary>
    public static IReadOnlyDictionary<string, int> ParseRanks(string text)
    {
        var map = AdmmLayerPlan.ParseLayerMap(text, v => int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r >= 1
            ? r
            : throw new SurgeonException($"'{v}' is not a rank (a whole number ≥ 1)"));
        return map.Count > 0 ? map : throw new SurgeonException("no LAYER=RANK given");
    }

    /// <summary>The recipe field of <paramref name="ranks"/> (the inverse of <see cref="ParseRanks"/>).</summary>
    public static string Format(IReadOnlyDictionary<string, int> ranks) =>
        string.Join(",", ranks.Select(kv => $"{kv.Key}={kv.Value.ToString(CultureInfo.InvariantCulture)}"));
}
