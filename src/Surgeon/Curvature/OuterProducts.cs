using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>
/// A Linear layer's per-sample weight gradients δ_b a_bᵀ (δ_b the gradient at its output, a_b its input), written
/// straight into the layer's columns of row b of the result, each element once.
/// </summary>
/// <remarks>
/// Why not a tensor op: TorchSharp has no out= form of mul or bmm, so the batched product lands in a new B×out·in
/// tensor (written once, page-faulted in) that is then copied into the rows (read, write again); filling the rows
/// from the small δ and a arrays writes G's bytes once, which is the floor of forming G. The product is the same
/// single multiplication per element as bmm's K = 1 product, so the values are the same.
/// </remarks>
internal sealed class OuterProducts
{
    private readonly float[]? deltaF, inputF;
    private readonly double[]? deltaD, inputD;
    private readonly int outF, inF, offset;

    private OuterProducts(float[]? deltaF, float[]? inputF, double[]? deltaD, double[]? inputD, int outF, int inF, int offset)
    {
        (this.deltaF, this.inputF, this.deltaD, this.inputD) = (deltaF, inputF, deltaD, inputD);
        (this.outF, this.inF, this.offset) = (outF, inF, offset);
    }

    /// <summary>
    /// The layer's products for <paramref name="result"/>, or null where they cannot be written directly: the result
    /// not a contiguous CPU tensor of float32 or float64, or the call not one [B, in] → [B, out] product.
    /// </summary>
    public static OuterProducts? Of(Tensor input, Tensor gradOut, long[] weightShape, long b, long offset, Tensor result)
    {
        if (result.device_type != DeviceType.CPU || !result.is_contiguous() || result.dim() != 2) return null;
        long elementSize = result.dtype switch { ScalarType.Float32 => 4, ScalarType.Float64 => 8, _ => 0 };
        if (elementSize == 0 || result.shape[1] * elementSize > int.MaxValue) return null;
        long outF = weightShape[0], inF = weightShape[1];
        if (input.dim() != 2 || gradOut.dim() != 2 || input.shape[0] != b || gradOut.shape[0] != b
            || input.shape[1] != inF || gradOut.shape[1] != outF || offset + outF * inF > result.shape[1])
            return null;
        using var scope = NewDisposeScope();
        var delta = gradOut.detach().to(result.dtype).cpu().contiguous();
        var a = input.detach().to(result.dtype).cpu().contiguous();
        return result.dtype == ScalarType.Float32
            ? new OuterProducts(delta.data<float>().ToArray(), a.data<float>().ToArray(), null, null, (int)outF, (int)inF, (int)offset)
            : new OuterProducts(null, null, delta.data<double>().ToArray(), a.data<double>().ToArray(), (int)outF, (int)inF, (int)offset);
    }

    /// <summary>Writes every layer's products into the rows of <paramref name="result"/>, rows split over torch's threads.</summary>
    public static void Write(IReadOnlyList<OuterProducts> layers, Tensor result)
    {
        if (layers.Count == 0) return;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) };
        Parallel.For(0L, result.shape[0], options, n =>
        {
            using var row = result.select(0, n);   // a view: its bytes are row n of the result
            var bytes = row.bytes;
            foreach (var layer in layers) layer.WriteRow(bytes, (int)n);
        });
    }

    private void WriteRow(Span<byte> row, int n)
    {
        if (deltaF is not null) Fill(MemoryMarshal.Cast<byte, float>(row), deltaF, inputF!, n);
        else Fill(MemoryMarshal.Cast<byte, double>(row), deltaD!, inputD!, n);
    }

    private void Fill<T>(Span<T> row, T[] delta, T[] input, int n) where T : unmanaged, INumberBase<T>
    {
        var a = new ReadOnlySpan<T>(input, n * inF, inF);
        var block = row.Slice(offset, outF * inF);
        int width = Vector<T>.Count;
        for (int o = 0; o < outF; o++)
        {
            T s = delta[n * outF + o];
            var target = block.Slice(o * inF, inF);
            int i = 0;
            if (Vector.IsHardwareAccelerated)
            {
                var scale = new Vector<T>(s);
                for (; i <= inF - width; i += width)
                    (new Vector<T>(a.Slice(i)) * scale).CopyTo(target.Slice(i));
            }
            for (; i < inF; i++) target[i] = a[i] * s;
        }
    }
}
