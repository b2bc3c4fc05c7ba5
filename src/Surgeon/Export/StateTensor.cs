namespace Surgeon.Export;

/// <summary>
/// One tensor of a model's state (a parameter or a buffer such as BatchNorm's running statistics) as raw
/// little-endian bytes in row-major order: the unit the sparse and safetensors files store.
/// </summary>
/// <param name="DType">Element type by its safetensors name (see <see cref="ElementTypes"/>).</param>
internal sealed record StateTensor(string Name, string DType, long[] Shape, byte[] Data)
{
    /// <summary>The number of elements (1 for a scalar, whose shape is empty).</summary>
    public long Elements => Shape.Aggregate(1L, (a, b) => checked(a * b));

    public int ElementSize => ElementTypes.SizeOf(DType);

    public string ShapeText => ShapeTextOf(Shape);

    public static string ShapeTextOf(IEnumerable<long> shape) => Surgeon.ShapeText.Of(shape);
}
