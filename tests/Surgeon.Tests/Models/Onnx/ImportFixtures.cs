using Microsoft.ML.OnnxRuntime;
using Onnx;
using Surgeon.Export;
using Surgeon.Models.Onnx;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models.Onnx;

/// <summary>
/// The files scripts/make-import-fixtures.py wrote with PyTorch (tests/fixtures/import/): ONNX graphs, state dicts,
/// the shared input batch and the logits PyTorch computed on it.
/// </summary>
internal static class ImportFixtures
{
    public static readonly string[] OnnxModels = ["mlp", "lenet-bn", "resnet", "dwsep", "concat"];

    public static string Folder { get; } = FindFolder();

    public static string PathOf(string file) => Path.Combine(Folder, file);

    public static string Onnx(string name) => PathOf(name + ".onnx");

    /// <summary>The fixed input batch [4, 1, 28, 28].</summary>
    public static Tensor Input()
    {
        var (data, shape) = NpyFile.Read(PathOf("input.npy"));
        return tensor(data, shape);
    }

    /// <summary>The logits PyTorch computed for <paramref name="name"/> on <see cref="Input"/>.</summary>
    public static (float[] Data, long[] Shape) PyTorchLogits(string name) => NpyFile.Read(PathOf(name + ".logits.npy"));

    public static OnnxGraphModel Load(string name) => new(OnnxFile.Read(Onnx(name)), name + ".onnx");

    /// <summary>ONNX Runtime's output for <paramref name="input"/> on the graph in <paramref name="path"/>.</summary>
    public static (float[] Data, long[] Shape) RunOrt(string path, Tensor input, string inputName = "input", string outputName = "logits")
    {
        using var session = new InferenceSession(path);
        using var value = OrtValue.CreateTensorValueFromMemory(TensorData.Floats(input), input.shape);
        using var options = new RunOptions();
        using var outputs = session.Run(options, [inputName], [value], [outputName]);
        return (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[0].GetTensorTypeAndShape().Shape);
    }

    /// <summary>The model's eval-mode logits on <paramref name="input"/>.</summary>
    public static float[] Logits(nn.Module<Tensor, Tensor> model, Tensor input)
    {
        bool was = model.training;
        model.eval();
        using (no_grad())
        using (var y = model.call(input))
        {
            model.train(was);
            return TensorData.Floats(y);
        }
    }

    public static double MaxDelta(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }

    public static ModelProto Proto(string name) => OnnxFile.Read(Onnx(name));

    private static string FindFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Surgeon.sln")))
                return Path.Combine(dir.FullName, "tests", "fixtures", "import");
        throw new InvalidOperationException("Surgeon.sln not found above the test assembly");
    }
}
