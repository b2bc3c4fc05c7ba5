using static TorchSharp.torch;

namespace Surgeon.Compression;

/// <summary>
/// The factorised form of a tensor, W = Σ_j s[j]·U_j V_jᵀ (low-rank layers, rank updates): the rank and the names of
/// the factor tensors in the weights file. 'surgeon factorize' stores the rank-r product in the tensor itself and lists
/// no factors: they are the product's truncated SVD at that rank (Models/TruncatedSvd).
/// </summary>
internal sealed record FactorizedForm(int Rank, IReadOnlyList<string> Factors);

/// <summary>
/// How one tensor is compressed beside its values in the weights file: a keep-mask (a pruned entry is exactly zero and
/// stays so when fine-tuned, while an unmasked zero may move), a b-bit quantisation, a factorised form. Any may be absent.
/// </summary>
internal sealed record TensorCompression
{
    /// <summary>The keep-mask packed 8 entries a byte, least significant bit first, in row-major order, base64; a 0 bit
    /// is a pruned entry.</summary>
    public string? Mask { get; init; }
    /// <summary>The number of kept entries (1 bits): a check on <see cref="Mask"/>, and readable without unpacking it.</summary>
    public long? Kept { get; init; }
    public TensorQuantization? Quantization { get; init; }
    public FactorizedForm? Factorized { get; init; }

    public static TensorCompression OfMask(ReadOnlySpan<bool> keep)
    {
        var bytes = new byte[(keep.Length + 7) / 8];
        long kept = 0;
        for (int i = 0; i < keep.Length; i++)
            if (keep[i])
            {
                bytes[i >> 3] |= (byte)(1 << (i & 7));
                kept++;
            }
        return new TensorCompression { Mask = Convert.ToBase64String(bytes), Kept = kept };
    }

    /// <summary>The keep-mask of a tensor of <paramref name="length"/> entries, checked (<paramref name="what"/> names it).</summary>
    public bool[] UnpackMask(long length, string what)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(Mask ?? throw new SurgeonException($"{what} has no mask"));
        }
        catch (FormatException)
        {
            throw new SurgeonException($"{what}: its mask is not base64");
        }
        if (bytes.LongLength != (length + 7) / 8)
            throw new SurgeonException($"{what}: its mask has {bytes.Length} bytes, a tensor of {length} entries needs {(length + 7) / 8}");
        var keep = new bool[length];
        for (long i = 0; i < length; i++) keep[i] = (bytes[i >> 3] >> (int)(i & 7) & 1) == 1;
        if (length % 8 != 0 && bytes[^1] >> (int)(length % 8) != 0)
            throw new SurgeonException($"{what}: its mask has bits set past the tensor's {length} entries");
        if (Kept is { } k && keep.LongCount(b => b) != k)
            throw new SurgeonException($"{what}: its mask keeps {keep.LongCount(b => b)} entries, not the {k} it says");
        return keep;
    }
}

/// <summary>
/// The compression state of a model, per tensor by state-dict name: what checkpoints store beside the dense weights
/// (in the sidecar) and what eval, export, import and reports read. A tensor that is not listed is uncompressed.
/// </summary>
internal sealed record CompressionState
{
    public Dictionary<string, TensorCompression> Tensors { get; init; } = [];

    /// <summary>How the model as a whole was quantised (settings, folds, activation grids); null for a float model.
    /// Each weight's grid is its tensor's <see cref="TensorCompression.Quantization"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public ModelQuantization? Quantization { get; init; }

    /// <summary>The masks of every tensor of <paramref name="mask"/> that has a pruned entry; null when none has.</summary>
    public static CompressionState? FromMask(MaskSet? mask)
    {
        if (mask is null) return null;
        var keep = mask.Keep.cpu().data<bool>().ToArray();
        var state = new CompressionState();
        long offset = 0;
        foreach (var p in mask.Parameters)
        {
            var slice = keep.AsSpan((int)offset, (int)p.Count);
            if (slice.Contains(false)) state.Tensors[p.Name] = TensorCompression.OfMask(slice);
            offset += p.Count;
        }
        return state.Tensors.Count == 0 ? null : state;
    }

    /// <summary>What makes the state unusable as read from a file (JSON may hold null anywhere), or null. The values
    /// themselves (masks, grids) are checked against the model by <see cref="Check"/>.</summary>
    public string? Problem()
    {
        if (Tensors is null) return "its compression has no tensors";
        foreach (var (name, t) in Tensors)
        {
            if (t is null) return $"its compression of {name} is null";
            if (t.Quantization is { } q && (q.Scales is null || q.ZeroPoints is null))
                return $"its quantisation of {name} lacks its scales or zero points";
            if (t.Factorized is { } f && f.Factors is null) return $"its factorised form of {name} lists no factors";
        }
        return Quantization?.Problem();
    }

    /// <summary>Whether any tensor has a mask.</summary>
    public bool HasMasks => Tensors.Values.Any(t => t.Mask is not null);

    /// <summary>
    /// The stored masks as one <see cref="MaskSet"/> over <paramref name="parameters"/> (tensors without a mask keep
    /// everything), or null when nothing is masked. A masked tensor outside <paramref name="parameters"/> is an error:
    /// its mask could not be held.
    /// </summary>
    public MaskSet? ToMask(IReadOnlyList<PrunableParameter> parameters)
    {
        if (!HasMasks) return null;
        var names = parameters.Select(p => p.Name).ToHashSet();
        var outside = Tensors.Where(t => t.Value.Mask is not null && !names.Contains(t.Key)).Select(t => t.Key).FirstOrDefault();
        if (outside is not null)
            throw new SurgeonException($"the checkpoint's mask covers {outside}, which is not in the prunable set; use --prunable all");
        var keep = new List<bool>();
        foreach (var p in parameters)
            keep.AddRange(Tensors.TryGetValue(p.Name, out var t) && t.Mask is not null ? t.UnpackMask(p.Count, p.Name) : Enumerable.Repeat(true, (int)p.Count));
        using var scope = NewDisposeScope();
        return new MaskSet(parameters, tensor(keep.ToArray()));
    }

    /// <summary>Checks the state against the model's tensors: every name exists, every mask fits its tensor and its
    /// pruned entries are exactly zero, every quantisation is a valid grid. <paramref name="what"/> names the file.</summary>
    public void Check(nn.Module model, string what)
    {
        var state = model.state_dict();
        foreach (var (name, t) in Tensors)
        {
            if (!state.TryGetValue(name, out var value))
                throw new SurgeonException($"{what}: the compression state names {name}, which the model does not have");
            t.Quantization?.Validate($"{what}: {name}");
            if (t.Quantization is { Axis: { } axis } q && (axis < 0 || axis >= value.dim() || value.shape[axis] != q.Scales.Length))
                throw new SurgeonException($"{what}: the quantisation of {name} has {q.Scales.Length} scales along axis {axis}, which does not fit its shape [{string.Join(", ", value.shape)}]");
            if (t.Mask is null) continue;
            var keep = t.UnpackMask(value.numel(), $"{what}: {name}");
            using var scope = NewDisposeScope();
            using var pruned = tensor(keep).logical_not().view(value.shape);
            if (value.detach().cpu().masked_select(pruned).ne(Numerics.HeldScalars.Of(0)).any().item<bool>())
                throw new SurgeonException($"{what}: {name} has nonzero weights where its stored mask prunes them: the sidecar does not describe these weights");
        }
        if (Quantization is { } whole)
            foreach (var (layer, q) in whole.Inputs)
                q.Validate($"{what}: the input grid of {layer}");
    }
}
