using static TorchSharp.torch;

namespace Surgeon.Export;

/// <summary>Copies a tensor's values out of TorchSharp for a file writer: float32, row-major, on the CPU.</summary>
internal static class TensorData
{
    public static float[] Floats(Tensor tensor)
    {
        using var scope = NewDisposeScope();
        return tensor.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }

    public static long[] Shape(Tensor tensor) => tensor.shape.ToArray();
}
