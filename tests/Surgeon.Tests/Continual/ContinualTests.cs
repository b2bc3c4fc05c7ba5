using Surgeon.Continual;
using Surgeon.Data;
using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Tests.Continual;

/// <summary>
/// The continual driver and its methods on tiny tasks (permutations of random 4×4 images of 10 classes): rank updates
/// leave task 1's logits bit-identical, grow the parameters by exactly the rank update, and compute the forward pass a
/// dense MLP built term by term from the rank-1 factors computes; the metrics against a hand example.
/// </summary>
public class ContinualTests
{
    internal static IReadOnlyList<ContinualTask> TinyTasks(int count, string kind = "permuted-digits")
    {
        var train = TestModels.RandomImages(120, 1, 4, 4, 10, seed: 3);
        var test = TestModels.RandomImages(40, 1, 4, 4, 10, seed: 4);
        return TaskSequences.Create(kind, count, seed: 5, train, test);
    }

    internal static readonly ContinualOptions Tiny = new()
    {
        Hidden = [8, 6],
        Epochs = 2,
        BatchSize = 16,
        LearningRate = 0.01,
        RankFirst = 3,
        RankNext = 2,
        Seed = 1,
        PruneFraction = 0.5,
        RetrainEpochs = 1,
    };

    [Fact]
    public void RankUpdate_Task1LogitsBitIdenticalAfterLaterTasks()
    {
        var tasks = TinyTasks(3);
        using var x = tasks[0].Test.Batch(Enumerable.Range(0, 40).ToArray()).Inputs;
        Tensor? afterFirst = null;
        using var method = new RankUpdateMethod();
        var result = ContinualRun.Run(method, "permuted-digits", tasks, Tiny, afterTask: (t, m) =>
        {
            using var _ = no_grad();
            if (t == 0) afterFirst = m.Logits(0, x).detach().clone();
        });
        using var _ = no_grad();
        using var now = method.Logits(0, x);
        Assert.True(now.eq(afterFirst!).all().item<bool>(), "task 1's logits changed after tasks 2 and 3");
        Assert.Equal(0.0, result.FinalBackwardTransfer);
        afterFirst!.Dispose();
    }

    [Fact]
    public void RankUpdate_ParametersGrowByExactlyTheRankUpdate()
    {
        var tasks = TinyTasks(3);
        using var method = new RankUpdateMethod();
        var result = ContinualRun.Run(method, "permuted-digits", tasks, Tiny);
        // 16 inputs, hidden 8 and 6, 10 classes, r₁ = 3, r₂ = 2. Per task and hidden layer: r(F + D) factor entries, a
        // selector over all factors so far, F biases; then the head 10·6 + 10 = 70.
        // task 1: 3·(8+16) + 3 + 8 = 83 and 3·(6+8) + 3 + 6 = 51, + 70 = 204
        // task 2: 2·(8+16) + 5 + 8 = 61 and 2·(6+8) + 5 + 6 = 39, + 70 = 170
        // task 3: 2·(8+16) + 7 + 8 = 63 and 2·(6+8) + 7 + 6 = 41, + 70 = 174
        Assert.Equal([204L, 204 + 170, 204 + 170 + 174], result.Parameters);
        Assert.Equal(result.Parameters.Select(p => 4 * p), result.Bytes);
        var factors = method.Model!.named_parameters().Where(p => p.name.Contains("_u") || p.name.Contains("_v"))
            .GroupBy(p => p.name[..2]).ToDictionary(g => g.Key, g => g.Sum(p => p.parameter.numel()));
        Assert.Equal(3 * 24 + 2 * 2 * 24, factors["l0"]); // r₁(F+D) + 2 updates of r₂(F+D)
        Assert.Equal(3 * 14 + 2 * 2 * 14, factors["l1"]);
    }

    [Fact]
    public void RankUpdate_ForwardIsTheDenseMlpOfTheSumOfRankOneTerms()
    {
        var tasks = TinyTasks(2);
        using var method = new RankUpdateMethod();
        ContinualRun.Run(method, "permuted-digits", tasks, Tiny);
        var p = method.Model!.named_parameters().ToDictionary(q => q.name, q => q.parameter.detach().to(float64));
        using var x = tasks[1].Test.Batch([0, 1, 2, 3, 4]).Inputs.flatten(1).to(float64);
        using var _ = no_grad();
        int task = 1;
        var h = x;
        for (int l = 0; l < 2; l++)
        {
            // W = Σ over every factor column k so far of s_task[k]·u_k v_kᵀ, one rank-1 term at a time.
            var s = p[$"l{l}_s{task}"].data<double>().ToArray();
            var us = Enumerable.Range(0, task + 1).Select(j => p[$"l{l}_u{j}"]).ToList();
            var vs = Enumerable.Range(0, task + 1).Select(j => p[$"l{l}_v{j}"]).ToList();
            var w = zeros(us[0].shape[0], vs[0].shape[0], dtype: float64);
            int k = 0;
            for (int j = 0; j <= task; j++)
                for (int c = 0; c < us[j].shape[1]; c++, k++)
                    w = w.add(outer(us[j][.., c], vs[j][.., c]).mul(s[k]));
            Assert.Equal(s.Length, k);
            h = nn.functional.relu(h.matmul(w.T).add(p[$"l{l}_b{task}"]));
        }
        var expected = h.matmul(p[$"head_w{task}"].T).add(p[$"head_b{task}"]);
        using var actual = method.Logits(task, x.to(float32)).to(float64);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), "rank-update forward differs from the dense sum of rank-1 terms");
    }

    [Fact]
    public void Metrics_HandExample()
    {
        double[][] a = [[0.9, 0, 0], [0.8, 0.95, 0], [0.7, 0.9, 0.85]];
        Assert.Equal(0.9, ContinualResult.AverageAccuracy(a, 0), 12);
        Assert.Equal(0.0, ContinualResult.BackwardTransfer(a, 0));
        Assert.Equal(-0.1, ContinualResult.BackwardTransfer(a, 1), 12);                  // 0.8 − 0.9
        Assert.Equal(-0.125, ContinualResult.BackwardTransfer(a, 2), 12);                // ((0.7 − 0.9) + (0.9 − 0.95)) / 2
        Assert.Equal((0.7 + 0.9 + 0.85) / 3, ContinualResult.AverageAccuracy(a, 2), 12);
        var r = new ContinualResult("m", "s", 0, ["a", "b", "c"], a, [1, 2, 3], [4, 8, 12]);
        Assert.Equal("after_task,task_1,task_2,task_3\n1,0.9,,\n2,0.8,0.95,\n3,0.7,0.9,0.85\n", r.MatrixCsv());
    }

    [Fact]
    public void Sequences_PermuteAndSplitAsDescribed()
    {
        var pixels = new byte[] { 10, 20, 30, 40, 1, 2, 3, 4 };
        var data = new ImageDataset("d", pixels, [0, 1], 1, 2, 2, 10, 0.5f, 0.5f);
        var permuted = TaskSequences.Permuted(data, [2, 0, 3, 1], "p");
        Assert.Equal(new byte[] { 30, 10, 40, 20, 3, 1, 4, 2 }, permuted.Pixels);

        var tasks = TinyTasks(3);
        Assert.Equal(tasks[0].Train.Pixels, TestModels.RandomImages(120, 1, 4, 4, 10, seed: 3).Pixels); // task 1 unpermuted
        var again = TinyTasks(3);
        Assert.Equal(tasks[2].Test.Pixels, again[2].Test.Pixels);                                        // seeded
        Assert.NotEqual(tasks[1].Train.Pixels, tasks[2].Train.Pixels);

        var split = TinyTasks(5, "split-digits");
        var source = TestModels.RandomImages(120, 1, 4, 4, 10, seed: 3).ClassCounts();
        for (int t = 0; t < 5; t++)
        {
            Assert.Equal(2, split[t].Classes);
            Assert.Equal([source[2 * t], source[2 * t + 1]], split[t].Train.ClassCounts());
        }
        Assert.Throws<SurgeonException>(() => TinyTasks(6, "split-digits"));

        // Subsets: larger than a task keeps all of it; smaller keeps that many, class-balanced where possible.
        var train = TestModels.RandomImages(120, 1, 4, 4, 10, seed: 3);
        var test = TestModels.RandomImages(40, 1, 4, 4, 10, seed: 4);
        var subset = TaskSequences.Create("split-digits", 2, 5, train, test, trainPerTask: 1000, testPerTask: 6);
        Assert.Equal(24, subset[0].Train.Count);
        Assert.Equal([3, 3], subset[1].Test.ClassCounts());
    }

    [Fact]
    public void MultiTaskNetworks_RefuseAnUnlearntTaskAndWrongInputsBeforeNativeCode()
    {
        using var rank = new RankUpdateMlp(16, [8], 10);
        rank.AddTask(2);
        using var dense = new MultiTaskMlp(16, [8], 10, biasPerTask: true);
        dense.AddTask();
        foreach (var (model, name) in new (TorchSharp.torch.nn.Module<Tensor, Tensor>, string)[] { (rank, "rank-update MLP"), (dense, "multi-task MLP") })
        {
            using var images = zeros(3, 1, 4, 4);
            using var logits = model.call(images);
            Assert.Equal([3L, 10L], logits.shape);
            using var wrong = zeros(3, 15);
            Assert.Equal($"the {name} takes 16 inputs per sample, got [3×15]", Assert.Throws<SurgeonException>(() => model.call(wrong)).Message);
            using var single = zeros(16);
            Assert.Equal($"the {name} takes 16 inputs per sample, got [16]", Assert.Throws<SurgeonException>(() => model.call(single)).Message);
        }
        using var x = zeros(2, 16);
        rank.Task = 1;
        Assert.Equal("task 2 is not one of the 1 tasks learnt", Assert.Throws<SurgeonException>(() => rank.call(x)).Message);
        dense.Task = -1;
        Assert.Equal("task 0 is not one of the 1 tasks learnt", Assert.Throws<SurgeonException>(() => dense.call(x)).Message);
    }
}
