using Surgeon.Data;
using Surgeon.Progress;
using static TorchSharp.torch;

namespace Surgeon.Continual;

/// <summary>
/// The continual driver: learns the tasks in order with one method and, after each, measures every task so far
/// (the accuracy matrix) and what the method stores. The <c>afterTask</c> callback of <see cref="Run"/> sees the method after each task
/// (tests take logits there).
/// </summary>
internal static class ContinualRun
{
    public static ContinualResult Run(ContinualMethod method, string sequence, IReadOnlyList<ContinualTask> tasks,
        ContinualOptions options, IProgressReporter? progress = null, Action<int, ContinualMethod>? afterTask = null)
    {
        options.Validate();
        if (tasks.Count == 0) throw new SurgeonException("no tasks to learn");
        progress ??= NullProgress.Instance;
        manual_seed(options.Seed);
        var trainer = new ContinualTrainer(options, progress);
        var accuracy = new List<double[]>();
        var parameters = new List<long>();
        var bytes = new List<long>();
        for (int t = 0; t < tasks.Count; t++)
        {
            method.Learn(t, tasks[t], trainer);
            var row = new double[tasks.Count];
            for (int j = 0; j <= t; j++)
            {
                int task = j;
                row[j] = ContinualTrainer.Accuracy(x => method.Logits(task, x), tasks[j].Test);
            }
            accuracy.Add(row);
            parameters.Add(method.StoredParameters);
            bytes.Add(method.Bytes);
            progress.Info($"{method.Name} after task {t + 1} ({tasks[t].Name}): accuracy {string.Join(' ', row.Take(t + 1).Select(a => $"{a:P1}"))}; " +
                $"average {ContinualResult.AverageAccuracy(accuracy, t):P2}, backward transfer {ContinualResult.BackwardTransfer(accuracy, t) * 100:+0.00;-0.00;0.00} points");
            afterTask?.Invoke(t, method);
        }
        return new ContinualResult(method.Name, sequence, options.Seed, tasks.Select(t => t.Name).ToList(), accuracy, parameters, bytes);
    }
}
