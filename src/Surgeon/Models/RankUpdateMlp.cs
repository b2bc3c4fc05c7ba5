using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// The network of incremental rank updates (Hyder et al., ECCV 2022): an MLP whose hidden layer l applies, for task t,
/// W_t = Σ_{j≤t} U_j·diag(s_t[j])·V_jᵀ, where task j added the factors U_j (F×r_j) and V_j (D×r_j) and each task has its
/// own selector s_t over all factors so far, its own biases and its own output head. Adding a task freezes everything
/// before it (requires_grad = false), so a task's outputs depend only on parameters no later task changes.
/// <see cref="Task"/> chooses the task <see cref="forward"/> computes.
/// </summary>
internal sealed class RankUpdateMlp : nn.Module<Tensor, Tensor>
{
    private readonly long inputs, classes;
    private readonly long[] widths;
    private readonly List<Parameter>[] us, vs, selectors, biases;
    private readonly List<Parameter> headWeights = [], headBiases = [];
    private readonly List<long> ranks = [];

    public RankUpdateMlp(long inputs, IReadOnlyList<int> hidden, long classes) : base(nameof(RankUpdateMlp))
    {
        if (inputs < 1 || classes < 2 || hidden.Count == 0 || hidden.Any(h => h < 1))
            throw new SurgeonException($"a rank-update MLP needs inputs ≥ 1, hidden widths ≥ 1 and ≥ 2 classes, got {inputs}, [{string.Join(", ", hidden)}], {classes}");
        (this.inputs, this.classes) = (inputs, classes);
        widths = hidden.Select(h => (long)h).ToArray();
        us = NewLists(); vs = NewLists(); selectors = NewLists(); biases = NewLists();
    }

    private List<Parameter>[] NewLists() => widths.Select(_ => new List<Parameter>()).ToArray();

    /// <summary>The task <see cref="forward"/> computes (0-based).</summary>
    public int Task { get; set; }
    public int TaskCount => headWeights.Count;
    public IReadOnlyList<long> Ranks => ranks;
    public long Classes => classes;

    /// <summary>
    /// Adds a task with <paramref name="rank"/> new factors per hidden layer and returns its parameters (the ones to
    /// train): the new U and V (orthogonal initialisation, as the official code), the task's selectors (0 for the
    /// earlier factors and 1 for the new ones, as the official code), its biases (0) and its head. Everything of the
    /// earlier tasks is frozen first.
    /// </summary>
    public IReadOnlyList<Parameter> AddTask(long rank)
    {
        if (rank < 1) throw new SurgeonException($"a rank update needs rank ≥ 1, got {rank}");
        foreach (var p in parameters()) p.requires_grad = false;
        int t = TaskCount;
        long total = ranks.Sum() + rank;
        var added = new List<Parameter>();
        Parameter Add(string name, Tensor value)
        {
            var p = new Parameter(value, requires_grad: true);
            register_parameter(name, p);
            added.Add(p);
            return p;
        }
        using (no_grad())
        {
            for (int l = 0; l < widths.Length; l++)
            {
                long fanIn = l == 0 ? inputs : widths[l - 1];
                us[l].Add(Add($"l{l}_u{t}", nn.init.orthogonal_(empty(widths[l], rank))));
                vs[l].Add(Add($"l{l}_v{t}", nn.init.orthogonal_(empty(fanIn, rank))));
                selectors[l].Add(Add($"l{l}_s{t}", cat([zeros(total - rank), ones(rank)], 0)));
                biases[l].Add(Add($"l{l}_b{t}", zeros(widths[l])));
            }
            long last = widths[^1];
            headWeights.Add(Add($"head_w{t}", nn.init.orthogonal_(empty(classes, last))));
            headBiases.Add(Add($"head_b{t}", zeros(classes)));
        }
        ranks.Add(rank);
        Task = t;
        return added;
    }

    /// <summary>The dense weight hidden layer <paramref name="layer"/> applies for task <paramref name="task"/>.</summary>
    public Tensor Weight(int layer, int task)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var u = cat(us[layer].Take(task + 1).Cast<Tensor>().ToList(), 1);
        var v = cat(vs[layer].Take(task + 1).Cast<Tensor>().ToList(), 1);
        return u.mul(selectors[layer][task].unsqueeze(0)).matmul(v.T).MoveToOuterDisposeScope();
    }

    /// <summary>The number of parameters task <paramref name="task"/> added: r(F + D) factor entries, a selector over all
    /// factors so far and F biases per hidden layer, and its head.</summary>
    public long ParametersOfTask(int task)
    {
        long rank = ranks[task], total = ranks.Take(task + 1).Sum(), count = 0;
        for (int l = 0; l < widths.Length; l++)
            count += rank * (widths[l] + (l == 0 ? inputs : widths[l - 1])) + total + widths[l];
        return count + classes * widths[^1] + classes;
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = InputCheck.TaskBatch("rank-update MLP", Task, TaskCount, input, inputs);
        for (int l = 0; l < widths.Length; l++)
        {
            var u = Task == 0 ? (Tensor)us[l][0] : cat(us[l].Take(Task + 1).Cast<Tensor>().ToList(), 1);
            var v = Task == 0 ? (Tensor)vs[l][0] : cat(vs[l].Take(Task + 1).Cast<Tensor>().ToList(), 1);
            x = nn.functional.relu(x.matmul(v).mul(selectors[l][Task]).matmul(u.T).add(biases[l][Task], HeldScalars.One));
        }
        return x.matmul(headWeights[Task].T).add(headBiases[Task], HeldScalars.One).MoveToOuterDisposeScope();
    }
}
