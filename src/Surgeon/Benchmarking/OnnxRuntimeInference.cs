using Microsoft.ML.OnnxRuntime;
using Surgeon.Export;
using Surgeon.Export.Onnx;
using Surgeon.Models;
using static TorchSharp.torch;

namespace Surgeon.Benchmarking;

/// <summary>
/// ONNX Runtime inference on the graph <c>surgeon export --format onnx</c> writes (built in memory here, so nothing is
/// left on disk): all graph optimisations, sequential execution, the given number of intra-op threads.
/// </summary>
internal sealed class OnnxRuntimeInference : IInferenceRunner
{
    private readonly SessionOptions options;
    private readonly InferenceSession session;
    private readonly OrtValue input;
    private readonly RunOptions runOptions = new();
    private readonly string[] inputNames = [OnnxExport.InputName], outputNames = [OnnxExport.OutputName];
    private readonly OrtValue[] inputs;

    public OnnxRuntimeInference(nn.Module<Tensor, Tensor> model, ModelSpec spec, Tensor batch, int threads)
    {
        if (threads < 1) throw new SurgeonException($"ONNX Runtime needs at least 1 thread, got {threads}");
        byte[] onnx = OnnxWriter.ToBytes(OnnxExport.Build(model, spec));
        options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        session = new InferenceSession(onnx, options);
        input = OrtValue.CreateTensorValueFromMemory(TensorData.Floats(batch), batch.shape);
        inputs = [input];
    }

    public void Run()
    {
        using var outputs = session.Run(runOptions, inputNames, inputs, outputNames);
    }

    public void Dispose()
    {
        input.Dispose();
        runOptions.Dispose();
        session.Dispose();
        options.Dispose();
    }
}
