using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Benchmarking;

/// <summary>One model ready to run inference on one fixed input batch, as often as it is asked to.</summary>
internal interface IInferenceRunner : IDisposable
{
    /// <summary>One eval-mode forward pass of the batch; the result is dropped.</summary>
    void Run();
}

/// <param name="Prepare">Makes a runner for the model (of the spec) on the input batch, with this many intra-op threads.</param>
internal sealed record InferenceRuntime(string Name, string Description, Func<nn.Module<Tensor, Tensor>, ModelSpec, Tensor, int, IInferenceRunner> Prepare);

/// <summary>The runtimes <c>surgeon bench-model</c> times a model in, by name.</summary>
internal static class InferenceRuntimes
{
    private static readonly InferenceRuntime[] Runtimes =
    [
        new("torchsharp", "TorchSharp (LibTorch) eval-mode forward without autograd", (m, _, x, _) => new TorchSharpInference(m, x)),
        new("torchsharp-onednn", "TorchSharp with libtorch's oneDNN convolutions on for the forward pass (Surgeon keeps them off for training, " +
            "where their input gradients are wrong on narrow layers; their outputs are right)", (m, _, x, _) => new TorchSharpInference(m, x, oneDnn: true)),
        new("onnx", "ONNX Runtime on the model exported to ONNX (surgeon export --format onnx)", (m, s, x, t) => new OnnxRuntimeInference(m, s, x, t)),
    ];

    public static IReadOnlyList<InferenceRuntime> Known => Runtimes;

    /// <summary>What <c>surgeon bench-model</c> times when not told: plain TorchSharp and ONNX Runtime.</summary>
    public static IReadOnlyList<InferenceRuntime> Default => [Runtimes[0], Runtimes[2]];

    /// <summary>Parses a comma-separated list of runtime names.</summary>
    public static IReadOnlyList<InferenceRuntime> Parse(string text)
    {
        var names = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0)
            throw new SurgeonException($"--runtimes is empty: give one or more of {string.Join(", ", Runtimes.Select(r => r.Name))}");
        var result = new List<InferenceRuntime>();
        foreach (var name in names)
        {
            var runtime = Runtimes.FirstOrDefault(r => r.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                ?? throw new SurgeonException($"unknown runtime '{name}': known runtimes are {string.Join(", ", Runtimes.Select(r => r.Name))}");
            if (result.Contains(runtime))
                throw new SurgeonException($"--runtimes lists {runtime.Name} twice");
            result.Add(runtime);
        }
        return result;
    }
}
