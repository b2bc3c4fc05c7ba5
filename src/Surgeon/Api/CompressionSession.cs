using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Export.Onnx;
using Surgeon.Models;
using Surgeon.Models.Onnx;
using Surgeon.Modifiers;
using Surgeon.Progress;
using Surgeon.Pruning;
using Surgeon.Quantization;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Api;

/// <summary>
/// The common path in a few lines: a model (a Surgeon checkpoint, an ONNX file, or a registry model trained here) with
/// its data; prune it with a method name (<c>"cbs"</c>, <c>"mp"</c>, <c>"sparsegpt@2:4"</c>, <c>"ms16-exp:chita-bso-g"</c>)
/// or a method composed of your own stages, fine-tune it with a recipe, quantise its weights, evaluate it, and save it
/// as a checkpoint or export it to ONNX. What the command line does, without the console: progress goes to
/// <see cref="Progress"/>, errors are <see cref="SurgeonException"/>s with one line.
/// </summary>
/// <example><code>
/// using var session = CompressionSession.Train("mlpnet", "digits", epochs: 5);
/// var pruned = session.Prune("cbs", 0.9);
/// Console.WriteLine($"{pruned.AccuracyBefore:P2} → {pruned.AccuracyAfter:P2}");
/// session.ExportOnnx("mlpnet-cbs-0.9.onnx");
/// </code></example>
public sealed class CompressionSession : IDisposable
{
    private nn.Module<Tensor, Tensor> model;
    private CheckpointInfo? info; // null for an imported ONNX graph
    private MaskSet? mask;
    private QuantizedModel? quantized;
    private readonly ImageDataset train, test;
    private readonly string dataSpec;

    // As the command line does, before a factory loads anything: libtorch's buffers reused, large ones on huge pages
    // (libtorch reads that switch at its first allocation).
    static CompressionSession() => Numerics.NativeHeap.Configure();

    private CompressionSession(nn.Module<Tensor, Tensor> model, CheckpointInfo? info, string dataSpec, ImageDataset train, ImageDataset test)
    {
        this.model = model;
        this.info = info;
        this.dataSpec = dataSpec;
        this.train = train;
        this.test = test;
    }

    /// <summary>Where long work reports progress (nothing by default).</summary>
    public IProgressReporter Progress { get; set; } = NullProgress.Instance;

    /// <summary>Which weights pruning may zero: the papers' set (the default, as on the command line) or every Linear and
    /// Conv2d weight. Sparsity is a fraction of this set.</summary>
    public PrunableSet Prunable { get; set; } = PrunableSet.Paper;

    /// <summary>The model as it stands (smaller than the original after a filter method).</summary>
    public nn.Module<Tensor, Tensor> Model => model;

    /// <summary>The fraction of the prunable weights that are pruned (exact zeros held by the session's mask).</summary>
    public double Sparsity => mask?.Sparsity ?? 0;

    /// <summary>Loads a checkpoint written by Surgeon (<c>surgeon train</c>, <c>prune</c>, …); its data are the
    /// checkpoint's dataset unless <paramref name="data"/> names another (<c>digits</c>, <c>fashion-mnist</c>, a folder).</summary>
    public static CompressionSession FromCheckpoint(string path, string? data = null)
    {
        var (model, info) = Checkpoint.Load(path);
        try
        {
            string spec = data ?? info.Dataset;
            var (train, test) = DatasetCatalog.Load(spec);
            info.EnsureFits(test);
            var session = new CompressionSession(model, info, spec, train, test)
            {
                Prunable = info.Notes.GetValueOrDefault("prunable") == "all" ? PrunableSet.All : PrunableSet.Paper,
            };
            if (info.Compression is { HasMasks: true } state)
                session.mask = state.ToMask(PrunableParameters.Discover(model, session.Prunable));
            return session;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Imports an ONNX model (Conv, Gemm, MatMul, BatchNormalization, pools, activations, Add, Concat, …) to
    /// prune like a registry model; <paramref name="data"/> must match its input shape.</summary>
    public static CompressionSession FromOnnx(string path, string data = DatasetCatalog.Digits)
    {
        var graph = new OnnxGraphModel(OnnxFile.Read(path), Path.GetFileName(path));
        try
        {
            var (train, test) = DatasetCatalog.Load(data);
            graph.EnsureFits(test);
            return new CompressionSession(graph, null, data, train, test);
        }
        catch
        {
            graph.Dispose();
            throw;
        }
    }

    /// <summary>Trains a registry model (<c>mlpnet</c>, <c>lenet5</c>, <c>resnet20</c>, …) from scratch with SGD and a
    /// cosine schedule, deterministic given <paramref name="seed"/>.</summary>
    public static CompressionSession Train(string architecture, string data = DatasetCatalog.Digits, int epochs = 10, int seed = 0,
        double learningRate = 0.05, IProgressReporter? progress = null)
    {
        var options = new TrainOptions { Epochs = epochs, Seed = seed, LearningRate = learningRate };
        options.Validate();
        var (train, test) = DatasetCatalog.Load(data);
        manual_seed(seed);
        var spec = new ModelSpec(architecture.Trim().ToLowerInvariant(), train.SampleShape, train.NumClasses, 1.0);
        var model = ModelRegistry.Create(spec, CPU);
        using (var loop = new TrainingLoop(options, model, train) { Progress = progress ?? NullProgress.Instance })
            loop.Run();
        var info = new CheckpointInfo
        {
            Architecture = spec.Architecture,
            InputShape = train.SampleShape,
            NumClasses = train.NumClasses,
            Dataset = data,
            Seed = seed,
            Notes = new() { ["epochs"] = epochs.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        return new CompressionSession(model, info, data, train, test) { Progress = progress ?? NullProgress.Instance };
    }

    /// <summary>Top-1 accuracy and mean cross-entropy on the test split (through the quantised weights once quantised).</summary>
    public EvalResult Evaluate()
    {
        if (quantized is null) return Evaluator.Evaluate(model, test);
        using var _ = new FakeQuantForward(model, quantized);
        return Evaluator.Evaluate(model, test);
    }

    /// <summary>Prunes to <paramref name="sparsity"/> in one shot with a method of the registry's grammar
    /// (<c>surgeon methods</c> lists them); weights pruned before stay pruned.</summary>
    public PruneSummary Prune(string method, double sparsity, int seed = 0, PruningOptions? options = null) =>
        Prune(PruningMethods.Get(method), sparsity, seed, options);

    /// <summary>Prunes with a method object, e.g. one composed of your own <see cref="IScore"/>, <see cref="IRule"/>,
    /// <see cref="IJointSelection"/> or <see cref="IWeightUpdate"/> (see <see cref="PruningMethod"/>).</summary>
    public PruneSummary Prune(PruningMethod method, double sparsity, int seed = 0, PruningOptions? options = null)
    {
        if (quantized is not null) throw new SurgeonException("prune before quantising: the session's weights are already quantised");
        SparsityTarget.Validate(sparsity);
        var context = new PruningContext
        {
            Model = model,
            Parameters = mask?.Parameters ?? PrunableParameters.Discover(model, Prunable),
            TrainData = train,
            Seed = seed,
            Progress = Progress,
            Options = options ?? new PruningOptions(),
            Mask = mask,
            KeptFraction = 1 - sparsity,
        };
        method.Check(context);
        double before = Evaluator.Evaluate(model, test).Accuracy;
        PruneResult result;
        try
        {
            result = method.Prune(context, sparsity);
        }
        finally
        {
            context.ReleaseCache(); // the Fisher and its factors, also when the method failed
        }
        using var _ = result;
        if (!ReferenceEquals(result.Model, model))
        {
            // A filter rule built a smaller model: it replaces the session's (whose mask no longer applies).
            model.Dispose();
            model = result.Model;
            if (info is not null && model is IStructuredModel shrunk) info = info.WithSpec(shrunk.Spec);
            mask?.Dispose();
            mask = null;
        }
        else if (result.Mask is { } reached)
        {
            mask?.Dispose();
            mask = new MaskSet(reached.Parameters, reached.Keep); // a copy: the result's own mask is disposed with it
        }
        return new PruneSummary(method.Name, result.Sparsity, before, Evaluator.Evaluate(model, test).Accuracy);
    }

    /// <summary>Fine-tunes for <paramref name="epochs"/> epochs of SGD: with a recipe of training modifiers (YAML, see
    /// docs/recipes/: gradual pruning, ADMM, AutoPrune, QAT, …) when <paramref name="recipePath"/> is given; the weights
    /// pruned so far stay exact zeros unless a modifier of the recipe decides the mask itself.</summary>
    public void Finetune(int epochs, string? recipePath = null, double learningRate = 0.01, int seed = 0)
    {
        if (quantized is not null) throw new SurgeonException("fine-tune before quantising: the session's weights are already quantised");
        var options = new TrainOptions { Epochs = epochs, Seed = seed, LearningRate = learningRate };
        options.Validate();
        var recipe = recipePath is null ? null : Recipe.Load(recipePath);
        var modifiers = recipe?.CreateModifiers(epochs, (train.Count + options.BatchSize - 1) / options.BatchSize) ?? [];
        if (mask is not null && !modifiers.Any(m => m.OwnsMask))
            modifiers = [new FixedMaskModifier { Prunable = Prunable }, .. modifiers]; // the zeros stay zeros
        using var loop = new TrainingLoop(options, model, train) { Progress = Progress, Modifiers = modifiers, Mask = mask };
        loop.Run();
        model = loop.Model;
        if (!ReferenceEquals(loop.Mask, mask)) mask?.Dispose();
        mask = loop.Mask;
        loop.Mask = null; // the session owns it now
    }

    /// <summary>Post-training quantisation of the weights to <paramref name="bits"/> bits (symmetric min–max grids, per
    /// tensor or per output channel); evaluation and export then use the quantised weights.</summary>
    public void QuantizeWeights(int bits = 8, bool perChannel = false)
    {
        var settings = new WeightQuantizationSettings { Bits = bits, PerChannel = perChannel };
        settings.Validate();
        quantized = PostTrainingQuantization.Quantize(model, settings, null, train, Progress);
    }

    /// <summary>Writes a Surgeon checkpoint (weights + sidecar with the mask and quantisation grids), whole or not at all.</summary>
    public void SaveCheckpoint(string path)
    {
        var described = info ?? throw new SurgeonException("an imported ONNX graph is saved with ExportOnnx, not as a checkpoint");
        var eval = Evaluate();
        var state = CompressionState.FromMask(mask);
        if (quantized is not null) state = QuantizedCheckpoint.Store(state, quantized);
        Checkpoint.Save(path, model, described with
        {
            Dataset = dataSpec,
            TestAccuracy = eval.Accuracy,
            TestLoss = eval.Loss,
            Sparsity = Sparsity,
            Compression = state,
        });
    }

    /// <summary>Exports the model to ONNX (with quantised weights as QDQ when quantised; an imported graph keeps its
    /// node and tensor names, a quantised one with each weight as int8 codes through DequantizeLinear under the weight's
    /// name). Returns a line describing what was written.</summary>
    public string ExportOnnx(string path)
    {
        if (model is OnnxGraphModel graph)
        {
            return quantized is null ? OnnxGraphExport.Write(graph, path).Details : OnnxGraphQdq.Write(graph, quantized, path).Details;
        }
        return OnnxExport.Write(model, info!.Spec, path, quantized).Details;
    }

    /// <summary>Disposes the model and the mask.</summary>
    public void Dispose()
    {
        mask?.Dispose();
        model.Dispose();
    }
}

/// <summary>What <see cref="CompressionSession.Prune(string, double, int, PruningOptions?)"/> did: the method, the sparsity
/// reached (of weights, or of filters for a filter rule) and the test accuracy before and after.</summary>
public sealed record PruneSummary(string Method, double Sparsity, double AccuracyBefore, double AccuracyAfter);
