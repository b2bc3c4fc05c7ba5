namespace Surgeon.Data;

/// <summary>One task of a continual-learning sequence: its own train and test split and its number of classes (the
/// size of its output head). The task id is known at test time (task-incremental learning).</summary>
internal sealed record ContinualTask(string Name, ImageDataset Train, ImageDataset Test)
{
    public int Classes => Train.NumClasses;
}

/// <summary>
/// Task sequences built from the data Surgeon has: permuted digits or Fashion-MNIST (task 1 the images as they are,
/// every later task one fixed pixel permutation drawn from the seed, the same for its train and test images; 10
/// classes each) and split digits or Fashion-MNIST (5 tasks of 2 classes: {0, 1}, {2, 3}, …, labelled 0 and 1).
/// </summary>
internal static class TaskSequences
{
    public static readonly IReadOnlyList<string> Kinds = ["permuted-digits", "split-digits", "permuted-fashion", "split-fashion"];

    /// <summary>The default number of tasks of a kind: 10 permutations, or the 5 class pairs.</summary>
    public static int DefaultCount(string kind) => kind.StartsWith("split", StringComparison.Ordinal) ? 5 : 10;

    /// <summary>The dataset a kind is built from (a <see cref="DatasetCatalog"/> name).</summary>
    public static string Source(string kind) => Check(kind).EndsWith("fashion", StringComparison.Ordinal) ? DatasetCatalog.FashionMnist : DatasetCatalog.Digits;

    public static string Check(string kind) => Kinds.Contains(kind)
        ? kind
        : throw new SurgeonException($"unknown task sequence '{kind}': use {string.Join(", ", Kinds)}");

    /// <summary>
    /// The tasks of <paramref name="kind"/> over <paramref name="train"/> and <paramref name="test"/>. Permuted kinds take
    /// any <paramref name="count"/> ≥ 1; split kinds at most 5 (the class pairs of a 10-class set). With
    /// <paramref name="trainPerTask"/> / <paramref name="testPerTask"/> each task keeps a seeded class-balanced subset.
    /// </summary>
    public static IReadOnlyList<ContinualTask> Create(string kind, int count, int seed, ImageDataset train, ImageDataset test,
        int? trainPerTask = null, int? testPerTask = null)
    {
        Check(kind);
        if (count < 1) throw new SurgeonException($"a task sequence needs at least 1 task, got {count}");
        if (train.NumClasses != 10 || test.NumClasses != 10)
            throw new SurgeonException($"task sequences are built from 10-class data; {train.Name} has {train.NumClasses}");
        var tasks = new List<ContinualTask>();
        if (kind.StartsWith("split", StringComparison.Ordinal))
        {
            if (count > 5) throw new SurgeonException($"a split sequence has at most 5 tasks (class pairs), got {count}");
            for (int t = 0; t < count; t++)
            {
                string name = $"classes {2 * t},{2 * t + 1}";
                tasks.Add(new ContinualTask(name, ClassPair(train, 2 * t, name), ClassPair(test, 2 * t, name)));
            }
        }
        else
        {
            var rng = new Random(seed);
            int pixels = train.Channels * train.Height * train.Width;
            for (int t = 0; t < count; t++)
            {
                var order = Enumerable.Range(0, pixels).ToArray();
                if (t > 0) rng.Shuffle(order);
                string name = t == 0 ? "unpermuted" : $"permutation {t}";
                tasks.Add(new ContinualTask(name, Permuted(train, order, name), Permuted(test, order, name)));
            }
        }
        return tasks.Select((task, t) => task with
        {
            Train = Sample(task.Train, trainPerTask, seed + 7919 * t),
            Test = Sample(task.Test, testPerTask, seed + 7919 * t + 1),
        }).ToList();
    }

    /// <summary>
    /// The same images fed as raw pixel values 0…255 (mean 0, standard deviation 1/255 in the byte/255 convention of
    /// <see cref="ImageDataset"/>), as the rank-update paper's official notebook feeds MNIST, instead of normalised inputs.
    /// </summary>
    public static ImageDataset RawPixels(ImageDataset data) =>
        new(data.Name, data.Pixels, data.Labels, data.Channels, data.Height, data.Width, data.NumClasses,
            Enumerable.Repeat(0f, data.Channels).ToArray(), Enumerable.Repeat(1f / 255f, data.Channels).ToArray());

    /// <summary><paramref name="count"/> images of <paramref name="data"/>: all of them when it has no more, else a seeded
    /// class-balanced subset, or a seeded random one when a class has too few images for balance.</summary>
    private static ImageDataset Sample(ImageDataset data, int? count, int seed)
    {
        if (count is not { } n || n >= data.Count) return data;
        int perClass = n / data.NumClasses + (n % data.NumClasses == 0 ? 0 : 1);
        var indices = data.ClassCounts().Min() >= perClass ? data.BalancedSubset(n, seed) : data.RandomSubset(n, seed).Order().ToArray();
        return data.Subset(indices, data.Name);
    }

    /// <summary>The images with their pixels (all channels, row-major) reordered: new pixel p is old pixel order[p].</summary>
    public static ImageDataset Permuted(ImageDataset data, int[] order, string task)
    {
        int per = data.Channels * data.Height * data.Width;
        if (order.Length != per)
            throw new SurgeonException($"a permutation of {order.Length} pixels does not fit images of {per}");
        var pixels = new byte[data.Pixels.LongLength];
        for (int i = 0; i < data.Count; i++)
        {
            int offset = i * per;
            for (int p = 0; p < per; p++) pixels[offset + p] = data.Pixels[offset + order[p]];
        }
        return new ImageDataset($"{data.Name}, {task}", pixels, (byte[])data.Labels.Clone(), data.Channels, data.Height, data.Width,
            data.NumClasses, data.Means, data.Stds);
    }

    /// <summary>The images of classes <paramref name="first"/> and first + 1, labelled 0 and 1.</summary>
    public static ImageDataset ClassPair(ImageDataset data, int first, string task)
    {
        var indices = Enumerable.Range(0, data.Count).Where(i => data.Labels[i] == first || data.Labels[i] == first + 1).ToArray();
        if (indices.Length == 0) throw new SurgeonException($"{data.Name} has no images of classes {first} and {first + 1}");
        var subset = data.Subset(indices, $"{data.Name}, {task}");
        var labels = subset.Labels.Select(l => (byte)(l - first)).ToArray();
        return new ImageDataset(subset.Name, subset.Pixels, labels, data.Channels, data.Height, data.Width, 2, data.Means, data.Stds);
    }
}
