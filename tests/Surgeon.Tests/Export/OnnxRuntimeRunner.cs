using Microsoft.ML.OnnxRuntime;
using Surgeon.Export;
using Surgeon.Export.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Export;

/// <summary>Runs an exported ONNX file in ONNX Runtime and compares its logits with the TorchSharp model's.</summary>
internal static class OnnxRuntimeRunner
{
    /// <summary>The "logits" output for one float32 "input" batch, and its shape.</summary>
    /// <param name="config">Session configuration entries (e.g. "session.qdq_matmulnbits_accuracy_level").</param>
    public static (float[] Logits, long[] Shape) Run(string path, float[] input, long[] shape,
        GraphOptimizationLevel optimization = GraphOptimizationLevel.ORT_ENABLE_ALL, IReadOnlyDictionary<string, string>? config = null)
    {
        using var sessionOptions = new SessionOptions { GraphOptimizationLevel = optimization };
        foreach (var (key, entry) in config ?? new Dictionary<string, string>())
            sessionOptions.AddSessionConfigEntry(key, entry);
        using var session = new InferenceSession(path, sessionOptions);
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var options = new RunOptions();
        using var outputs = session.Run(options, [OnnxExport.InputName], [value], [OnnxExport.OutputName]);
        return (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[0].GetTensorTypeAndShape().Shape);
    }

    /// <summary>
    /// Max |Δlogit| (and, for scale, max |logit|) between ONNX Runtime running <paramref name="path"/> and <paramref name="model"/> (eval mode) on
    /// the same random batch, after checking that the shapes agree and the logits are not all near zero (which would
    /// make the comparison vacuous).
    /// </summary>
    public static (double MaxDelta, double MaxLogit) CompareLogits(nn.Module<Tensor, Tensor> model, string path, int[] inputShape, int batch = 3, int seed = 5,
        GraphOptimizationLevel optimization = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        using var scope = NewDisposeScope();
        model.eval();
        manual_seed(seed);
        var x = randn(batch, inputShape[0], inputShape[1], inputShape[2]);
        Tensor expected;
        using (no_grad())
            expected = model.call(x);
        var (actual, shape) = Run(path, TensorData.Floats(x), x.shape, optimization);
        Assert.Equal(expected.shape, shape);
        var want = TensorData.Floats(expected);
        Assert.True(want.Max(MathF.Abs) > 1e-3f, $"the logits are all near zero ({want.Max(MathF.Abs):G3}): the comparison would prove nothing");
        return (want.Zip(actual, (a, b) => (double)Math.Abs(a - b)).Max(), want.Max(MathF.Abs));
    }
}
