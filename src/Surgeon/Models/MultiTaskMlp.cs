using Surgeon.Numerics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// A dense MLP shared by a sequence of tasks, with an output head per task and hidden biases per task or shared:
/// fine-tuning (one body, no protection), PackNet (one body whose weights each task owns a part of, seen through a
/// per-task mask) and independent models (one such network per task) all use it. The hidden layers are Linear modules
/// "fc0", "fc1", … without bias, so the pruning stages see their weights. <see cref="Task"/> chooses the head and
/// biases; <see cref="WeightMask"/>, when set, is multiplied into each hidden weight in the forward pass.
/// </summary>
internal sealed class MultiTaskMlp : nn.Module<Tensor, Tensor>
{
    private readonly long inputs, classes;
    private readonly long[] widths;
    private readonly bool biasPerTask;
    private readonly ModuleList<Linear> layers = new();
    private readonly List<Parameter>[] biases;
    private readonly List<Parameter> headWeights = [], headBiases = [];

    public MultiTaskMlp(long inputs, IReadOnlyList<int> hidden, long classes, bool biasPerTask) : base(nameof(MultiTaskMlp))
    {
        if (inputs < 1 || classes < 2 || hidden.Count == 0 || hidden.Any(h => h < 1))
            throw new SurgeonException($"a multi-task MLP needs inputs ≥ 1, hidden widths ≥ 1 and ≥ 2 classes, got {inputs}, [{string.Join(", ", hidden)}], {classes}");
        (this.inputs, this.classes, this.biasPerTask) = (inputs, classes, biasPerTask);
        widths = hidden.Select(h => (long)h).ToArray();
        for (int l = 0; l < widths.Length; l++)
            layers.Add(nn.Linear(l == 0 ? inputs : widths[l - 1], widths[l], hasBias: false));
        register_module("fc", layers);
        biases = widths.Select(_ => new List<Parameter>()).ToArray();
    }

    public int Task { get; set; }
    public int TaskCount => headWeights.Count;
    public long Classes => classes;

    /// <summary>The shared hidden weights, F×D each, first layer first.</summary>
    public IReadOnlyList<Parameter> HiddenWeights => layers.Select(l => l.weight!).ToList();

    /// <summary>Per hidden layer, a 0/1 tensor of its weight's shape multiplied into it in the forward pass (PackNet's
    /// view of the weights a task may use); null for the plain weights.</summary>
    public Func<int, Tensor>? WeightMask { get; set; }

    /// <summary>Adds a task: its head (nn.Linear's initialisation) and, with per-task biases, its biases (0; the shared
    /// biases are made with the first task). Returns the parameters added.</summary>
    public IReadOnlyList<Parameter> AddTask()
    {
        int t = TaskCount;
        var added = new List<Parameter>();
        void Add(string name, Parameter p)
        {
            register_parameter(name, p);
            added.Add(p);
        }
        if (biasPerTask || t == 0)
            for (int l = 0; l < widths.Length; l++)
            {
                var b = new Parameter(zeros(widths[l]));
                biases[l].Add(b);
                Add($"b{l}_{t}", b);
            }
        using (var head = nn.Linear(widths[^1], classes))
        {
            var w = new Parameter(head.weight!.detach().clone());
            var b = new Parameter(head.bias!.detach().clone());
            headWeights.Add(w);
            headBiases.Add(b);
            Add($"head_w{t}", w);
            Add($"head_b{t}", b);
        }
        Task = t;
        return added;
    }

    /// <summary>The parameters only task <paramref name="task"/> uses: its head and, with per-task biases, its biases.</summary>
    public IReadOnlyList<Parameter> TaskParameters(int task) =>
        [.. biasPerTask ? biases.Select(b => b[task]) : [], headWeights[task], headBiases[task]];

    /// <summary>The parameters every task shares: the hidden weights, and the biases when they are shared.</summary>
    public IReadOnlyList<Parameter> SharedParameters => [.. HiddenWeights, .. biasPerTask ? [] : biases.Select(b => b[0])];

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = InputCheck.TaskBatch("multi-task MLP", Task, TaskCount, input, inputs);
        for (int l = 0; l < widths.Length; l++)
        {
            Tensor w = layers[l].weight!;
            if (WeightMask is { } mask) w = w.mul(mask(l));
            x = nn.functional.relu(x.matmul(w.T).add(biases[l][biasPerTask ? Task : 0], HeldScalars.One));
        }
        return x.matmul(headWeights[Task].T).add(headBiases[Task], HeldScalars.One).MoveToOuterDisposeScope();
    }
}
