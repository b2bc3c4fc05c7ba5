namespace Surgeon.Export.Sparse;

/// <summary>
/// b-bit codes packed back to back, least significant bit first: code j occupies bits j·b … j·b + b − 1 of the stream,
/// and stream bit t is bit (t mod 8) of byte ⌊t/8⌋. The unused high bits of the last byte are 0. A code is stored as
/// the unsigned offset u = q − q_min ∈ [0, 2^b − 1] of the signed code q.
/// </summary>
internal static class CodePacking
{
    public static long Bytes(long count, int bits) => checked((count * bits + 7) / 8);

    public static byte[] Pack(ReadOnlySpan<byte> codes, int bits)
    {
        var packed = new byte[Bytes(codes.Length, bits)];
        long bit = 0;
        foreach (byte code in codes)
        {
            if (code >> bits != 0)
                throw new ArgumentException($"code {code} does not fit in {bits} bits", nameof(codes));
            for (int k = 0; k < bits; k++, bit++)
                if ((code >> k & 1) != 0)
                    packed[bit / 8] |= (byte)(1 << (int)(bit % 8));
        }
        return packed;
    }

    /// <summary>The <paramref name="count"/> codes of <paramref name="packed"/>; stray padding bits are an <see cref="InvalidDataException"/>.</summary>
    public static byte[] Unpack(ReadOnlySpan<byte> packed, long count, int bits)
    {
        if (packed.Length != Bytes(count, bits))
            throw new InvalidDataException($"{count} packed {bits}-bit codes take {Bytes(count, bits)} bytes, not {packed.Length}");
        var codes = new byte[count];
        long bit = 0;
        for (long j = 0; j < count; j++)
            for (int k = 0; k < bits; k++, bit++)
                if ((packed[(int)(bit / 8)] >> (int)(bit % 8) & 1) != 0)
                    codes[j] |= (byte)(1 << k);
        for (; bit < packed.Length * 8L; bit++)
            if ((packed[(int)(bit / 8)] >> (int)(bit % 8) & 1) != 0)
                throw new InvalidDataException("its packed codes set bits past the last code");
        return codes;
    }
}
