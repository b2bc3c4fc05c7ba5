using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Export.Onnx;
using Surgeon.Models.Onnx;
using Surgeon.Pruning;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Cli.Commands;

/// <summary>
/// The one-line path for a model that arrives as an ONNX file: <c>prune --onnx m.onnx --data … --method … --out p.onnx</c>
/// and <c>eval --onnx m.onnx --data …</c>. The graph is imported (<see cref="OnnxGraphModel"/>), pruned like a registry
/// model, and written back as ONNX with its original node and tensor names.
/// </summary>
internal static class OnnxRun
{
    public static (OnnxGraphModel Model, ImageDataset Train, ImageDataset Test) Load(string path, string dataSpec)
    {
        var model = new OnnxGraphModel(OnnxFile.Read(path), Path.GetFileName(path));
        var (train, test) = DatasetCatalog.Load(dataSpec);
        if (!model.InputShape.AsSpan().SequenceEqual(test.SampleShape))
        {
            model.Dispose();
            throw new SurgeonException($"{Path.GetFileName(path)} takes {string.Join('×', model.InputShape)} inputs but {test.Name} has {string.Join('×', test.SampleShape)}; pick a dataset of its input shape with --data");
        }
        if (test.NumClasses > model.NumClasses)
        {
            model.Dispose();
            throw new SurgeonException($"{test.Name} has {test.NumClasses} classes but {Path.GetFileName(path)} predicts {model.NumClasses}");
        }
        return (model, train, test);
    }

    /// <summary>
    /// The model description the sweep and the sparse header carry for an imported graph: architecture "onnx", its
    /// input shape and classes, the data, and the file's SHA-256 in place of a weights file's (it keys a sweep's journal).
    /// </summary>
    public static CheckpointInfo Describe(OnnxGraphModel model, string path, string dataSpec)
    {
        string sha;
        using (var stream = File.OpenRead(path))
            sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream)).ToLowerInvariant();
        return new CheckpointInfo
        {
            Architecture = model.Spec.Architecture,
            InputShape = model.InputShape,
            NumClasses = model.NumClasses,
            Dataset = dataSpec,
            WeightsSha256 = sha,
            Notes = new() { ["onnx"] = Path.GetFileName(path) },
        };
    }

    /// <summary><c>export --onnx m.onnx --format F --out FILE</c>: the graph as ONNX again, or its layer tensors as safetensors or sparse.</summary>
    public static int Export(string onnxPath, string format, string outPath)
    {
        var exporter = Surgeon.Export.ExportFormats.Get(format); // an unknown format is refused with the usual line
        new Surgeon.IO.RunPaths().Reads(onnxPath, $"the ONNX file {onnxPath}").Writes(outPath, "--out").Check();
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var model = new OnnxGraphModel(OnnxFile.Read(onnxPath), Path.GetFileName(onnxPath));
        var result = exporter.Name switch
        {
            "onnx" => OnnxGraphExport.Write(model, outPath),
            "safetensors" => OnnxGraphWeights.WriteSafetensors(model, outPath),
            "sparse" => OnnxGraphWeights.WriteSparse(model, Describe(model, onnxPath, "none"), outPath),
            _ => throw new SurgeonException($"export --onnx writes onnx, safetensors or sparse, not {exporter.Name}"),
        };
        Console.WriteLine($"{Path.GetFileName(onnxPath)} → {result.Path} ({result.Bytes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} bytes): {result.Details}");
        return 0;
    }

    /// <summary>
    /// <c>quantize --onnx m.onnx --bits b …</c>: post-training quantisation of the imported graph (BatchNorms that follow a
    /// conv folded, weights on b-bit grids, activations calibrated where asked), evaluated as the quantised model and
    /// written as a QDQ ONNX file (<see cref="OnnxGraphQdq"/>).
    /// </summary>
    public static int Quantize(string onnxPath, string? outPath, string dataSpec, Surgeon.Quantization.WeightQuantizationSettings weights,
        Surgeon.Quantization.ActivationQuantizationSettings? activations, TorchSharp.torch.Device device, ConsoleProgress progress)
    {
        string output = outPath ?? Path.Combine(Path.GetDirectoryName(onnxPath) ?? ".",
            $"{Path.GetFileNameWithoutExtension(onnxPath)}-w{weights.Bits}{(activations is null ? "" : $"a{activations.Bits}")}.onnx");
        new Surgeon.IO.RunPaths().Reads(onnxPath, $"the input ONNX file {onnxPath}").ReadsData(dataSpec).Writes(output, "--out").Check();
        var (model, train, test) = Load(onnxPath, dataSpec);
        using var _ = model;
        if (device.type != TorchSharp.DeviceType.CPU) model.to(device);
        var before = Evaluator.Evaluate(model, test, device: device);
        var plan = Surgeon.Quantization.PostTrainingQuantization.Quantize(model, weights, activations, train, progress);
        Surgeon.Training.EvalResult after;
        using (new Surgeon.Quantization.FakeQuantForward(model, plan))
            after = Evaluator.Evaluate(model, test, device: device);
        if (!double.IsFinite(after.Loss))
            throw new SurgeonException($"the quantised model's outputs overflow float32 (test loss {after.Loss.ToString(System.Globalization.CultureInfo.InvariantCulture)}); nothing was written");
        model.to(TorchSharp.torch.CPU);
        var written = OnnxGraphQdq.Write(model, plan, output);
        Console.WriteLine($"{plan.Describe()}");
        Console.WriteLine($"{Path.GetFileName(onnxPath)}: accuracy float {before.Accuracy:P2} → quantised {after.Accuracy:P2} ({(after.Accuracy - before.Accuracy) * 100:+0.00;-0.00;0.00} points), " +
            $"loss {before.Loss:F4} → {after.Loss:F4}; wrote {output} ({written.Details})");
        return 0;
    }

    /// <summary>
    /// <c>import --onnx m.onnx --format safetensors|sparse --in F --out r.onnx</c>: the weights export --onnx wrote, loaded
    /// back onto the graph by initializer name (<see cref="OnnxGraphWeights.Import"/>) and the graph written as ONNX.
    /// </summary>
    public static int Import(string onnxPath, string format, string inPath, string outPath, bool allowMissing)
    {
        if (format is not ("safetensors" or "sparse"))
            throw new SurgeonException($"import --onnx reads the safetensors or sparse file export --onnx wrote, not --format {format}");
        new Surgeon.IO.RunPaths().Reads(onnxPath, $"the ONNX file {onnxPath}").Reads(inPath, $"the input file {inPath}").Writes(outPath, "--out").Check();
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var model = new OnnxGraphModel(OnnxFile.Read(onnxPath), Path.GetFileName(onnxPath));
        var report = OnnxGraphWeights.Import(model, format, inPath, allowMissing);
        var written = OnnxGraphExport.Write(model, outPath);
        foreach (string line in report)
            Console.WriteLine(line);
        Console.WriteLine($"{Path.GetFileName(onnxPath)} with {Path.GetFileName(inPath)} → {outPath} ({written.Details})");
        return 0;
    }

    public sealed record PruneRequest(string OnnxPath, string? OutPath, string DataSpec, PruningMethod Method, double Sparsity,
        PrunableSet Prunable, PruningOptions Options, int Seed, int RecalibrateSamples, TorchSharp.torch.Device Device, ConsoleProgress Progress);

    public static int Prune(PruneRequest q)
    {
        string outPath = q.OutPath ?? Path.Combine(Path.GetDirectoryName(q.OnnxPath) ?? ".",
            $"{Path.GetFileNameWithoutExtension(q.OnnxPath)}-{q.Method.Name}-{q.Sparsity:0.###}.onnx");
        new Surgeon.IO.RunPaths().Reads(q.OnnxPath, $"the input ONNX file {q.OnnxPath}").ReadsData(q.DataSpec).Writes(outPath, "--out").Check();
        var (model, train, test) = Load(q.OnnxPath, q.DataSpec);
        using var _ = model;
        if (q.Device.type != TorchSharp.DeviceType.CPU) model.to(q.Device);
        var parameters = PrunableParameters.Discover(model, q.Prunable);
        if (!q.Method.PrunesFilters)
            SparsityTarget.PruneCount(q.Sparsity, PrunableParameters.TotalCount(parameters));
        var context = new PruningContext
        {
            Model = model,
            Parameters = parameters,
            TrainData = train,
            Seed = q.Seed,
            Device = q.Device,
            Progress = q.Progress,
            Options = q.Options,
        };
        q.Method.Check(context);
        var before = Evaluator.Evaluate(model, test, device: q.Device);
        using var result = q.Method.Prune(context, q.Sparsity);
        var pruned = result.Model as OnnxGraphModel
            ?? throw new InvalidOperationException($"{q.Method.Name} returned a {result.Model.GetType().Name}, not an ONNX graph");
        var after = Evaluator.Evaluate(pruned, test, device: q.Device);
        if (!double.IsFinite(after.Loss))
            throw new SurgeonException($"{q.Method.Name} at sparsity {q.Sparsity.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} gave a model whose outputs overflow float32; nothing was written");
        string recalibration = "";
        if (q.RecalibrateSamples > 0 && BatchNormRecalibration.Run(pruned, train, q.RecalibrateSamples, q.Seed, device: q.Device) > 0)
        {
            var recalibrated = Evaluator.Evaluate(pruned, test, device: q.Device);
            recalibration = $"; after BatchNorm recalibration on {q.RecalibrateSamples:N0} samples {recalibrated.Accuracy:P2}, loss {recalibrated.Loss:F4}";
        }
        pruned.to(TorchSharp.torch.CPU);
        var written = OnnxGraphExport.Write(pruned, outPath);
        if (result.Mask is { } masks)
            Workflows.PrintLayerTable(masks);
        else
            Console.WriteLine($"filters: {string.Join(", ", model.FilterGroups.Zip(pruned.FilterGroups, (a, b) => $"{a.Name} {a.Channels}→{b.Channels}"))}");
        Console.WriteLine($"{q.Method.Name} at {result.Sparsity:P2} sparsity{(q.Method.PrunesFilters ? " of the filters" : "")} on {Path.GetFileName(q.OnnxPath)}: accuracy {before.Accuracy:P2} → {after.Accuracy:P2}, " +
            $"loss {before.Loss:F4} → {after.Loss:F4}{recalibration}; wrote {outPath} ({written.Details})");
        if (!ReferenceEquals(pruned, model)) pruned.Dispose();
        return 0;
    }
}
