using System.Buffers.Binary;
using System.Text;
using CsCheck;

namespace Surgeon.Tests.IO.Fuzzing;

/// <summary>What one mutation does to a file's bytes.</summary>
public enum MutationKind
{
    /// <summary>Keep only the first part (a file cut short).</summary>
    Truncate,
    FlipBit,
    SetByte,
    /// <summary>Overwrite 1, 2, 4 or 8 bytes with an edge value (0, −1, 2³¹, 2⁶³, …) in either byte order.</summary>
    EdgeValue,
    /// <summary>An edge value into a 4- or 8-byte aligned field of the first 64 bytes, where binary headers keep sizes.</summary>
    GrowHeaderField,
    Insert,
    Delete,
    /// <summary>Copy a chunk of the file over another place in it.</summary>
    Splice,
    /// <summary>Repeat a chunk in place (the file grows).</summary>
    Duplicate,
    /// <summary>Replace a number written as text (JSON, CSV) by an extreme one: 1e308, -1, NaN, -0, 4.9e-324, 2³¹, …</summary>
    TextNumber,
}

/// <summary>One mutation: its kind, where (a fraction of the length), how much, and a value for the kind to use.</summary>
public sealed record Mutation(MutationKind Kind, double At, double Amount, ulong Value);

/// <summary>
/// Mutations of valid files (truncate, flip, overwrite with edge values, grow header fields, insert, delete, splice,
/// duplicate, extreme numbers in text), drawn by CsCheck generators from a seeded PCG so a run is the same every time.
/// </summary>
public static class FileMutator
{
    private static readonly Gen<Mutation> OneMutation =
        Gen.Select(Gen.Int[0, Enum.GetValues<MutationKind>().Length - 1], Gen.Double[0, 1], Gen.Double[0, 1], Gen.ULong,
            (kind, at, amount, value) => new Mutation((MutationKind)kind, at, amount, value));

    /// <summary>One to four mutations, and whether a checksummed format is re-sealed afterwards (so the parser behind
    /// the checksum is reached).</summary>
    public static readonly Gen<(Mutation[] Mutations, bool Reseal)> Plans = Gen.Select(OneMutation.Array[1, 4], Gen.Bool);

    /// <summary>The plan of case <paramref name="index"/> of a run seeded with <paramref name="seed"/>.</summary>
    public static (Mutation[] Mutations, bool Reseal) Plan(ulong seed, long index)
    {
        var pcg = new PCG((uint)(index & 0x7fffffff) | 1, seed ^ (ulong)index * 0x9E3779B97F4A7C15UL);
        return Plans.Generate(pcg, null!, out _);
    }

    private static readonly ulong[] Edges =
    [
        0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x100_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue,
    ];

    private static readonly string[] ExtremeNumbers =
    [
        "1e308", "-1e308", "-1", "NaN", "\"NaN\"", "Infinity", "\"Infinity\"", "\"-Infinity\"", "-0", "4.9e-324", "0", "1.5",
        "2147483648", "-2147483649", "99999999999999999999999", "1e-320", "0.99999999999999999", "65536",
    ];

    public static byte[] Apply(byte[] original, IEnumerable<Mutation> mutations)
    {
        var bytes = new List<byte>(original);
        foreach (var m in mutations) Apply(bytes, m);
        return bytes.ToArray();
    }

    private static void Apply(List<byte> b, Mutation m)
    {
        int Pos(double f, int max) => max <= 0 ? 0 : Math.Min(max - 1, (int)(f * max));
        int n = b.Count;
        var rng = new Random((int)(m.Value ^ (m.Value >> 32)));
        switch (m.Kind)
        {
            case MutationKind.Truncate:
                b.RemoveRange((int)(m.At * n), n - (int)(m.At * n));
                break;
            case MutationKind.FlipBit when n > 0:
                b[Pos(m.At, n)] ^= (byte)(1 << (int)(m.Value % 8));
                break;
            case MutationKind.SetByte when n > 0:
                b[Pos(m.At, n)] = (byte)m.Value;
                break;
            case MutationKind.EdgeValue when n > 0:
                WriteEdge(b, Pos(m.At, n), 1 << (int)(m.Value % 4), Edges[(m.Value >> 8) % (ulong)Edges.Length], bigEndian: (m.Value & 0x10000) != 0);
                break;
            case MutationKind.GrowHeaderField when n > 0:
                int width = (m.Value & 1) == 0 ? 4 : 8;
                int at = Pos(m.At, Math.Min(n, 64)) / width * width;
                WriteEdge(b, at, width, Edges[(m.Value >> 8) % (ulong)Edges.Length], bigEndian: (m.Value & 0x10000) != 0);
                break;
            case MutationKind.Insert:
                var extra = new byte[1 + (int)(m.Amount * 63)];
                rng.NextBytes(extra);
                b.InsertRange(Pos(m.At, n + 1), extra);
                break;
            case MutationKind.Delete when n > 0:
                int from = Pos(m.At, n);
                b.RemoveRange(from, Math.Min(n - from, 1 + (int)(m.Amount * 63)));
                break;
            case MutationKind.Splice when n > 1:
                int src = Pos((m.Value % 10_000) / 10_000.0, n), dst = Pos(m.At, n);
                int len = Math.Min(Math.Min(n - src, n - dst), 1 + (int)(m.Amount * 255));
                var chunk = b.GetRange(src, len);
                for (int i = 0; i < len; i++) b[dst + i] = chunk[i];
                break;
            case MutationKind.Duplicate when n > 0:
                int start = Pos(m.At, n);
                b.InsertRange(start, b.GetRange(start, Math.Min(n - start, 1 + (int)(m.Amount * 255))));
                break;
            case MutationKind.TextNumber:
                ReplaceNumber(b, m);
                break;
        }
    }

    private static void WriteEdge(List<byte> b, int at, int width, ulong value, bool bigEndian)
    {
        Span<byte> v = stackalloc byte[8];
        if (bigEndian) BinaryPrimitives.WriteUInt64BigEndian(v, value << (8 * (8 - width)));
        else BinaryPrimitives.WriteUInt64LittleEndian(v, value);
        for (int i = 0; i < width && at + i < b.Count; i++) b[at + i] = v[i];
    }

    /// <summary>Replaces the k-th run of digits (with its sign, point and exponent) by an extreme number.</summary>
    private static void ReplaceNumber(List<byte> b, Mutation m)
    {
        var runs = new List<(int Start, int Length)>();
        for (int i = 0; i < b.Count;)
        {
            if (b[i] is (byte)'-' or >= (byte)'0' and <= (byte)'9' && (b[i] != '-' || (i + 1 < b.Count && char.IsAsciiDigit((char)b[i + 1]))))
            {
                int j = i + 1;
                while (j < b.Count && (char.IsAsciiDigit((char)b[j]) || b[j] is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')) j++;
                runs.Add((i, j - i));
                i = j;
            }
            else i++;
        }
        if (runs.Count == 0) return;
        var (start, length) = runs[(int)(m.At * runs.Count) % runs.Count];
        b.RemoveRange(start, length);
        b.InsertRange(start, Encoding.ASCII.GetBytes(ExtremeNumbers[m.Value % (ulong)ExtremeNumbers.Length]));
    }

    /// <summary>The plan as text, to reproduce a failure.</summary>
    public static string Describe((Mutation[] Mutations, bool Reseal) plan) =>
        string.Join("; ", plan.Mutations.Select(m => $"{m.Kind} at {m.At:F4} amount {m.Amount:F3} value 0x{m.Value:x}")) + (plan.Reseal ? "; resealed" : "");
}
